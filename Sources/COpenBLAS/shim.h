#include <cblas.h>

/* Exported by OpenBLAS's pthread build but not declared in cblas.h: joins the threads its
   library constructor started, which otherwise spin for about 0.1 s after every wake-up. */
int blas_thread_shutdown_(void);
