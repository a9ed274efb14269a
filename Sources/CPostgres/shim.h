// libpq, PostgreSQL's own client library (Debian's libpq-dev).
#include <libpq-fe.h>
