/* Address parsing and formatting: every valid form, every malformed form
 * (-EINVAL), canonical round trips, -ENOBUFS. */
#include "helpers.h"

#include <limits.h>

static void check_valid(const char *text, shmlink_address_kind kind,
                        const char *canonical)
{
    shmlink_address a;
    char buf[SHMLINK_ADDRESS_MAX];
    int rc = shmlink_address_parse(text, &a);
    if (rc != 0)
        fprintf(stderr, "valid address rejected: \"%s\"\n", text);
    ASSERT_OK(rc);
    ASSERT_EQ(a.kind, kind);
    ASSERT_EQ(a.backend, kind == SHMLINK_ADDR_POSIX ? SHMLINK_BACKEND_POSIX
                                                    : SHMLINK_BACKEND_SYSV);
    int n = shmlink_address_format(&a, buf, sizeof(buf));
    ASSERT_EQ(n, (int)strlen(canonical));
    ASSERT_STREQ(buf, canonical);
    /* The canonical text parses to the same address. */
    shmlink_address b;
    ASSERT_OK(shmlink_address_parse(buf, &b));
    ASSERT_EQ(b.kind, a.kind);
    ASSERT_EQ(b.key, a.key);
    ASSERT_EQ(b.id, a.id);
    ASSERT_STREQ(b.name, a.name);
}

static void check_invalid(const char *text, const char *why)
{
    shmlink_address a;
    memset(&a, 0x5a, sizeof(a));
    int rc = shmlink_address_parse(text, &a);
    if (rc != -EINVAL)
        fprintf(stderr, "malformed address accepted (%s): \"%s\"\n", why,
                text ? text : "(NULL)");
    ASSERT_ERR(rc, -EINVAL);
    /* Every entry point refuses it the same way. */
    shmlink_segment *seg = NULL;
    shmlink_stat st;
    ASSERT_ERR(shmlink_segment_create(text, 4096, 0600, &seg), -EINVAL);
    ASSERT_ERR(shmlink_segment_open(text, 0, &seg), -EINVAL);
    ASSERT_ERR(shmlink_remove(text), -EINVAL);
    ASSERT_ERR(shmlink_stat_address(text, &st), -EINVAL);
    ASSERT_NULL(seg);
}

int main(void)
{
    char name255[300], name256[300], addr[400];
    shmlink_address a;

    /* ---- valid ---- */
    check_valid("/a", SHMLINK_ADDR_POSIX, "posix:/a");
    check_valid("posix:/a", SHMLINK_ADDR_POSIX, "posix:/a");
    check_valid("/demo.segment-1_x", SHMLINK_ADDR_POSIX,
                "posix:/demo.segment-1_x");
    check_valid("/...", SHMLINK_ADDR_POSIX, "posix:/...");
    check_valid("/.hidden", SHMLINK_ADDR_POSIX, "posix:/.hidden");
    check_valid("/with space", SHMLINK_ADDR_POSIX, "posix:/with space");
    check_valid("/\xc3\xa9t\xc3\xa9", SHMLINK_ADDR_POSIX,
                "posix:/\xc3\xa9t\xc3\xa9");
    name255[0] = '/';
    memset(name255 + 1, 'n', 255);
    name255[256] = '\0';
    snprintf(addr, sizeof(addr), "posix:%s", name255);
    check_valid(name255, SHMLINK_ADDR_POSIX, addr);
    check_valid(addr, SHMLINK_ADDR_POSIX, addr);
    ASSERT_EQ(strlen(addr) + 1, SHMLINK_ADDRESS_MAX - 1);

    check_valid("sysv:1", SHMLINK_ADDR_SYSV_KEY, "sysv:0x00000001");
    check_valid("sysv:4660", SHMLINK_ADDR_SYSV_KEY, "sysv:0x00001234");
    check_valid("sysv:0x1234", SHMLINK_ADDR_SYSV_KEY, "sysv:0x00001234");
    check_valid("sysv:0X1234", SHMLINK_ADDR_SYSV_KEY, "sysv:0x00001234");
    check_valid("sysv:0xABCDef01", SHMLINK_ADDR_SYSV_KEY, "sysv:0xabcdef01");
    check_valid("sysv:0x00001234", SHMLINK_ADDR_SYSV_KEY, "sysv:0x00001234");
    check_valid("sysv:0012", SHMLINK_ADDR_SYSV_KEY, "sysv:0x0000000c");
    check_valid("sysv:4294967295", SHMLINK_ADDR_SYSV_KEY, "sysv:0xffffffff");
    check_valid("sysv:0xffffffff", SHMLINK_ADDR_SYSV_KEY, "sysv:0xffffffff");
    check_valid("sysv:0x0000000000000001", SHMLINK_ADDR_SYSV_KEY,
                "sysv:0x00000001");
    check_valid("sysv:private", SHMLINK_ADDR_SYSV_PRIVATE, "sysv:private");
    check_valid("sysv-id:0", SHMLINK_ADDR_SYSV_ID, "sysv-id:0");
    check_valid("sysv-id:42", SHMLINK_ADDR_SYSV_ID, "sysv-id:42");
    check_valid("sysv-id:2147483647", SHMLINK_ADDR_SYSV_ID,
                "sysv-id:2147483647");

    ASSERT_OK(shmlink_address_parse("sysv:0xdeadbeef", &a));
    ASSERT_UEQ(a.key, 0xdeadbeefu);
    ASSERT_STREQ(a.name, "");
    ASSERT_OK(shmlink_address_parse("sysv-id:7", &a));
    ASSERT_EQ(a.id, 7);
    ASSERT_OK(shmlink_address_parse("/x", &a));
    ASSERT_STREQ(a.name, "/x");

    /* ---- invalid ---- */
    check_invalid(NULL, "NULL");
    check_invalid("", "empty");
    check_invalid("posix:", "empty name");
    check_invalid("/", "empty name");
    check_invalid("posix:/", "empty name");
    check_invalid("name", "no leading slash");
    check_invalid("posix:name", "no leading slash");
    check_invalid("//a", "second slash");
    check_invalid("/a/b", "second slash");
    check_invalid("/a/", "second slash");
    check_invalid("posix://a", "second slash");
    check_invalid("/.", "dot");
    check_invalid("/..", "dot dot");
    name256[0] = '/';
    memset(name256 + 1, 'n', 256);
    name256[257] = '\0';
    check_invalid(name256, "256 bytes");
    snprintf(addr, sizeof(addr), "posix:%s", name256);
    check_invalid(addr, "256 bytes");
    /* 128 two-byte characters = 256 bytes: the limit counts bytes. */
    name256[0] = '/';
    for (int i = 0; i < 128; i++) {
        name256[1 + 2 * i] = (char)0xc3;
        name256[2 + 2 * i] = (char)0xa9;
    }
    name256[257] = '\0';
    check_invalid(name256, "256 bytes of UTF-8");
    name256[255] = '\0'; /* 127 characters = 254 bytes */
    ASSERT_OK(shmlink_address_parse(name256, &a));

    check_invalid("sysv:", "empty key");
    check_invalid("sysv:0", "key 0");
    check_invalid("sysv:0x0", "key 0");
    check_invalid("sysv:0x00000000", "key 0");
    check_invalid("sysv:0x", "hex without digits");
    check_invalid("sysv:x12", "non-numeric");
    check_invalid("sysv:abc", "non-numeric");
    check_invalid("sysv:0xg1", "bad hex digit");
    check_invalid("sysv:12a", "trailing junk");
    check_invalid("sysv:0x12 ", "trailing blank");
    check_invalid("sysv: 12", "leading blank");
    check_invalid(" sysv:12", "leading blank");
    check_invalid("sysv:12\n", "trailing newline");
    check_invalid("sysv:+12", "plus sign");
    check_invalid("sysv:-12", "minus sign");
    check_invalid("sysv:-1", "minus sign");
    check_invalid("sysv:4294967296", "overflow");
    check_invalid("sysv:0x100000000", "overflow");
    check_invalid("sysv:99999999999999999999999", "overflow");
    check_invalid("sysv:1.5", "not an integer");
    check_invalid("sysv:Private", "case");
    check_invalid("sysv:private ", "trailing blank");
    check_invalid("sysv:privatex", "trailing junk");
    check_invalid("SYSV:12", "scheme case");
    check_invalid("sysv-id:", "empty id");
    check_invalid("sysv-id:-1", "negative id");
    check_invalid("sysv-id:+1", "plus sign");
    check_invalid("sysv-id:2147483648", "id overflow");
    check_invalid("sysv-id:0x10", "hex id");
    check_invalid("sysv-id:12x", "trailing junk");
    check_invalid("sysv-id: 1", "blank");
    check_invalid("sysv-id:private", "private id");
    check_invalid("shm:/a", "unknown scheme");
    check_invalid("file:/a", "unknown scheme");
    check_invalid("posix/a", "no colon");
    check_invalid("sysv", "no colon");
    check_invalid(" /a", "leading blank");
    check_invalid("12", "bare number");

    /* ---- format errors ---- */
    char small[8];
    ASSERT_OK(shmlink_address_parse("posix:/abcdefgh", &a));
    ASSERT_ERR(shmlink_address_format(&a, small, sizeof(small)), -ENOBUFS);
    ASSERT_ERR(shmlink_address_format(&a, NULL, 0), -ENOBUFS);
    char exact[16]; /* "posix:/abcdefgh" is 15 bytes + NUL */
    ASSERT_EQ(shmlink_address_format(&a, exact, sizeof(exact)), 15);
    ASSERT_ERR(shmlink_address_format(&a, exact, 15), -ENOBUFS);
    ASSERT_ERR(shmlink_address_format(NULL, exact, sizeof(exact)), -EINVAL);
    shmlink_address bad;
    memset(&bad, 0, sizeof(bad));
    ASSERT_ERR(shmlink_address_format(&bad, exact, sizeof(exact)), -EINVAL);
    bad.kind = SHMLINK_ADDR_SYSV_KEY;
    bad.backend = SHMLINK_BACKEND_SYSV;
    ASSERT_ERR(shmlink_address_format(&bad, exact, sizeof(exact)), -EINVAL);
    bad.key = 5;
    bad.backend = SHMLINK_BACKEND_POSIX;
    ASSERT_ERR(shmlink_address_format(&bad, exact, sizeof(exact)), -EINVAL);
    bad.kind = SHMLINK_ADDR_SYSV_ID;
    bad.backend = SHMLINK_BACKEND_SYSV;
    bad.id = -3;
    ASSERT_ERR(shmlink_address_format(&bad, exact, sizeof(exact)), -EINVAL);
    bad.kind = SHMLINK_ADDR_POSIX;
    bad.backend = SHMLINK_BACKEND_POSIX;
    strcpy(bad.name, "no-slash");
    ASSERT_ERR(shmlink_address_format(&bad, exact, sizeof(exact)), -EINVAL);
    ASSERT_ERR(shmlink_address_parse("/a", NULL), -EINVAL);

    printf("test_address: ok\n");
    return T_EXIT_PASS;
}
