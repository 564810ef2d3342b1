/* cffi declarations of the shmlink C API used by the Python binding.
 * Mirrors core/include/shmlink.h (out-of-line API mode: cffi checks these
 * against the real header when it compiles the module, so a mismatch is a
 * build error, not a crash). Macro values are taken from the header ("...").
 * Only what the Python layer binds is declared; the channel part is added by
 * the channel binding. */

#define SHMLINK_VERSION_MAJOR ...
#define SHMLINK_VERSION_MINOR ...
#define SHMLINK_VERSION_PATCH ...
#define SHMLINK_ADDRESS_MAX ...
#define SHMLINK_RDONLY ...

/* Errors */
const char *shmlink_strerror(int err);

/* Addresses */
typedef enum shmlink_backend {
    SHMLINK_BACKEND_POSIX = 1,
    SHMLINK_BACKEND_SYSV = 2
} shmlink_backend;

typedef enum shmlink_address_kind {
    SHMLINK_ADDR_POSIX = 1,
    SHMLINK_ADDR_SYSV_KEY = 2,
    SHMLINK_ADDR_SYSV_PRIVATE = 3,
    SHMLINK_ADDR_SYSV_ID = 4
} shmlink_address_kind;

typedef struct shmlink_address {
    shmlink_address_kind kind;
    shmlink_backend backend;
    char name[257];
    uint32_t key;
    int32_t id;
} shmlink_address;

int shmlink_address_parse(const char *text, shmlink_address *out);
int shmlink_address_format(const shmlink_address *addr, char *buf, size_t cap);
int shmlink_sysv_key(const char *path, int proj, uint32_t *key);

/* Segments */
typedef struct shmlink_segment shmlink_segment;

int shmlink_segment_create(const char *address, size_t size, unsigned mode,
                           shmlink_segment **out);
int shmlink_segment_open(const char *address, unsigned flags,
                         shmlink_segment **out);
void shmlink_segment_close(shmlink_segment *seg);
void *shmlink_segment_data(const shmlink_segment *seg);
size_t shmlink_segment_size(const shmlink_segment *seg);
int shmlink_segment_readonly(const shmlink_segment *seg);
const char *shmlink_segment_address(const shmlink_segment *seg);
int shmlink_segment_remove(shmlink_segment *seg);
int shmlink_remove(const char *address);

typedef struct shmlink_stat {
    shmlink_backend backend;
    char address[...];
    uint64_t size;
    uint32_t mode;
    uint32_t uid, gid;
    int64_t ctime;
    int32_t shmid;
    uint32_t key;
    uint64_t nattch;
    uint32_t cuid, cgid;
    int32_t cpid, lpid;
    int64_t atime, dtime;
    int64_t mtime;
} shmlink_stat;

int shmlink_segment_stat(const shmlink_segment *seg, shmlink_stat *st);
int shmlink_stat_address(const char *address, shmlink_stat *st);
