/* cffi declarations of the shmlink C API used by the Python binding.
 * Mirrors core/include/shmlink.h (out-of-line API mode: cffi checks these
 * against the real header when it compiles the module, so a mismatch is a
 * build error, not a crash). Macro values are taken from the header ("...").
 * The channel part is declared too (for the channel binding, which builds
 * its Python classes on it). */

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

/* Channels */
typedef struct shmlink_channel shmlink_channel;

typedef enum shmlink_role {
    SHMLINK_WRITER = 1,
    SHMLINK_READER = 2
} shmlink_role;

#define SHMLINK_FOREVER ...
#define SHMLINK_MIN_CAPACITY ...
#define SHMLINK_MAX_CAPACITY ...

int shmlink_channel_create(const char *address, size_t capacity, unsigned mode,
                           shmlink_role role, shmlink_channel **out);
int shmlink_channel_open(const char *address, shmlink_role role,
                         shmlink_channel **out);
#define SHMLINK_ANY_OWNER ...
int shmlink_channel_open_flags(const char *address, shmlink_role role,
                               unsigned flags, shmlink_channel **out);
int shmlink_channel_close(shmlink_channel *ch);
size_t shmlink_channel_capacity(const shmlink_channel *ch);
size_t shmlink_channel_max_message(const shmlink_channel *ch);
const char *shmlink_channel_address(const shmlink_channel *ch);
shmlink_role shmlink_channel_role(const shmlink_channel *ch);
int shmlink_channel_send(shmlink_channel *ch, const void *data, size_t len,
                         int64_t timeout_ns);
int shmlink_channel_reserve(shmlink_channel *ch, size_t len, void **ptr,
                            int64_t timeout_ns);
int shmlink_channel_commit(shmlink_channel *ch, size_t len);
int shmlink_channel_abort(shmlink_channel *ch);
int shmlink_channel_recv(shmlink_channel *ch, void *buf, size_t cap,
                         size_t *len, int64_t timeout_ns);
int shmlink_channel_peek(shmlink_channel *ch, const void **ptr, size_t *len,
                         int64_t timeout_ns);
int shmlink_channel_release(shmlink_channel *ch);
int shmlink_channel_recv_batch(shmlink_channel *ch, void *buf, size_t cap,
                               size_t *lens, size_t max, int64_t timeout_ns);
int shmlink_channel_interrupt(shmlink_channel *ch);
uint64_t shmlink_channel_interrupts(const shmlink_channel *ch);
int shmlink_channel_wait(shmlink_channel *ch, size_t len, int64_t timeout_ns,
                         uint64_t since);

typedef struct shmlink_channel_info {
    uint32_t version;
    uint64_t capacity;
    uint64_t max_message;
    uint64_t used;
    uint64_t messages_sent;
    uint64_t messages_received;
    int32_t writer_pid, reader_pid;
    int writer_alive, reader_alive;
    int closed;
    int reader_gone;
    ...;
} shmlink_channel_info;

int shmlink_channel_inspect(const void *mem, size_t size,
                            shmlink_channel_info *info);
int shmlink_channel_stat(const char *address, shmlink_channel_info *info);
int shmlink_channel_info_get(const shmlink_channel *ch,
                             shmlink_channel_info *info);

/* Fan-out channels (docs/PROTOCOL.md, section 13) */
typedef enum shmlink_fanout {
    SHMLINK_ONE = 0,
    SHMLINK_BROADCAST = 1,
    SHMLINK_QUEUE = 2
} shmlink_fanout;

#define SHMLINK_MAX_READERS ...

typedef struct shmlink_channel_config {
    size_t capacity;
    unsigned mode;
    unsigned readers;
    unsigned writers;
    shmlink_fanout fanout;
} shmlink_channel_config;

int shmlink_channel_create_config(const char *address,
                                  const shmlink_channel_config *cfg,
                                  shmlink_role role, shmlink_channel **out);

typedef struct shmlink_slot_info {
    uint32_t slot;
    int32_t pid;
    int alive;
    uint32_t state;
    int gone;
    uint64_t position;
    uint64_t lag;
    uint64_t messages_received;
} shmlink_slot_info;

int shmlink_channel_slots(const char *address, shmlink_fanout *fanout,
                          shmlink_slot_info *slots, size_t max);
int shmlink_channel_slots_get(const shmlink_channel *ch, shmlink_fanout *fanout,
                              shmlink_slot_info *slots, size_t max);
int shmlink_channel_fanout_of(const shmlink_channel *ch, shmlink_fanout *fanout,
                              unsigned *slot);

/* Many writers (docs/PROTOCOL.md 13.4) */
#define SHMLINK_MAX_WRITERS ...
int shmlink_channel_writers(const shmlink_channel *ch);
int shmlink_channel_source(const shmlink_channel *ch);

typedef struct shmlink_writer_slot_info {
    uint32_t slot;
    int32_t pid;
    int alive;
    int closed;
    uint64_t position;
    uint64_t used;
    uint64_t messages_sent;
    uint32_t reply_kind;
    uint32_t reply_id;
} shmlink_writer_slot_info;

int shmlink_channel_writer_slots(const char *address,
                                 shmlink_writer_slot_info *slots, size_t max);
int shmlink_channel_writer_slots_get(const shmlink_channel *ch,
                                     shmlink_writer_slot_info *slots,
                                     size_t max);

/* Calls (docs/PROTOCOL.md 13.5) */
typedef struct shmlink_server shmlink_server;
typedef struct shmlink_client shmlink_client;

typedef struct shmlink_server_config {
    size_t capacity;
    unsigned mode;
    unsigned workers;
    unsigned clients;
} shmlink_server_config;

#define SHMLINK_CALL_HEADER ...

typedef struct shmlink_request {
    const void *data;
    size_t len;
    uint64_t call_id;
    unsigned client;
} shmlink_request;

int shmlink_server_create(const char *address, const shmlink_server_config *cfg,
                          shmlink_server **out);
int shmlink_server_open(const char *address, shmlink_server **out);
int shmlink_server_recv(shmlink_server *srv, shmlink_request *req,
                        int64_t timeout_ns);
int shmlink_server_reply(shmlink_server *srv, const void *data, size_t len,
                         int status, int64_t timeout_ns);
int shmlink_server_reserve(shmlink_server *srv, size_t len, void **ptr,
                           int64_t timeout_ns);
int shmlink_server_commit(shmlink_server *srv, size_t len, int status);
int shmlink_server_drop(shmlink_server *srv);
int shmlink_server_interrupt(shmlink_server *srv);
size_t shmlink_server_max_message(const shmlink_server *srv);
void shmlink_server_close(shmlink_server *srv);

int shmlink_client_open(const char *address, shmlink_client **out);
int shmlink_client_send(shmlink_client *cl, const void *data, size_t len,
                        uint64_t *call_id, int64_t timeout_ns);
int shmlink_client_recv(shmlink_client *cl, uint64_t *call_id, int *status,
                        void *buf, size_t cap, size_t *len, int64_t timeout_ns);
int shmlink_client_call(shmlink_client *cl, const void *req, size_t len,
                        void *resp, size_t cap, size_t *resp_len, int *status,
                        int64_t timeout_ns);
int shmlink_client_interrupt(shmlink_client *cl);
size_t shmlink_client_max_message(const shmlink_client *cl);
unsigned shmlink_client_slot(const shmlink_client *cl);
void shmlink_client_close(shmlink_client *cl);

/* Of the Python binding (shmlink_build.py): the address of the table of
 * core functions that shmlink._chan calls (see _capi.h). */
const void *shmlink_python_capi(void);
