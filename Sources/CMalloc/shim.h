// glibc's malloc controls and statistics (mallopt, malloc_trim, mallinfo2), which the Glibc
// module leaves out.
#include <malloc.h>
