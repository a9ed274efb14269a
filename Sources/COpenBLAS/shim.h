#include <cblas.h>

/* Exported by OpenBLAS's pthread build but not declared in cblas.h: joins the threads its
   library constructor started, which otherwise spin for about 0.1 s after every wake-up. */
int blas_thread_shutdown_(void);

/* Exported by OpenBLAS's DYNAMIC_ARCH builds (Debian's): forget the kernel table chosen at
   load, and choose again, honouring OPENBLAS_CORETYPE. */
void gotoblas_dynamic_quit(void);
void gotoblas_dynamic_init(void);
