//go:build linux && cgo

package shmlink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCreateWriteReadOpen(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			const size = 8192
			seg := create(t, b.newAddr, size)
			if seg.Size() != size {
				t.Fatalf("Size() = %d, want %d", seg.Size(), size)
			}
			if b.name == "sysv-private" && !strings.HasPrefix(seg.Address(), "sysv-id:") {
				t.Fatalf("private segment Address() = %q, want sysv-id:N", seg.Address())
			}
			buf := seg.Bytes()
			if len(buf) != size {
				t.Fatalf("len(Bytes()) = %d, want %d", len(buf), size)
			}
			if !bytes.Equal(buf, make([]byte, size)) {
				t.Fatal("new segment does not read zero")
			}
			msg := []byte("hello through " + b.name)
			if n, err := seg.WriteAt(msg, 100); n != len(msg) || err != nil {
				t.Fatalf("WriteAt = %d, %v", n, err)
			}
			if !bytes.Equal(buf[100:100+len(msg)], msg) {
				t.Fatal("Bytes() does not show what WriteAt wrote")
			}
			buf[size-1] = 0x7f // write through the zero-copy view
			got := make([]byte, len(msg))
			if n, err := seg.ReadAt(got, 100); n != len(msg) || err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("ReadAt = %d, %v, %q", n, err, got)
			}

			// A second mapping of the same segment sees the same bytes.
			other, err := Open(seg.Address())
			if err != nil {
				t.Fatalf("Open(%q): %v", seg.Address(), err)
			}
			defer mustClose(t, other)
			if other.Size() != size || other.Address() != seg.Address() {
				t.Fatalf("second open: size %d address %q", other.Size(), other.Address())
			}
			if !bytes.Equal(other.Bytes()[100:100+len(msg)], msg) || other.Bytes()[size-1] != 0x7f {
				t.Fatal("second mapping does not see the writes")
			}
			other.Bytes()[0] = 42
			if buf[0] != 42 {
				t.Fatal("first mapping does not see the second one's write")
			}
		})
	}
}

func TestAddressForms(t *testing.T) {
	name := fmt.Sprintf("/shmlink-test-go-%d-short", os.Getpid())
	seg, err := Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, "posix:"+name)
	defer mustClose(t, seg)
	if seg.Address() != "posix:"+name {
		t.Fatalf("Address() = %q, want canonical %q", seg.Address(), "posix:"+name)
	}
	if _, err := os.Stat("/dev/shm" + name); err != nil {
		t.Fatalf("POSIX segment not in /dev/shm: %v", err)
	}

	// Decimal and hex System V keys name the same segment.
	key := uint32(0x47fe0000) ^ uint32(os.Getpid())
	sv, err := Create(fmt.Sprintf("sysv:%d", key), 4096)
	if err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, SysVAddress(key))
	defer mustClose(t, sv)
	if want := fmt.Sprintf("sysv:0x%08x", key); sv.Address() != want {
		t.Fatalf("Address() = %q, want %q", sv.Address(), want)
	}
	st, err := sv.Stat()
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{fmt.Sprintf("sysv:%#x", key), fmt.Sprintf("sysv-id:%d", st.ShmID)} {
		o, err := Open(addr)
		if err != nil {
			t.Fatalf("Open(%q): %v", addr, err)
		}
		sv.Bytes()[0]++
		if o.Bytes()[0] != sv.Bytes()[0] {
			t.Fatalf("Open(%q) maps another segment", addr)
		}
		mustClose(t, o)
	}
}

func TestCreateExisting(t *testing.T) {
	for _, b := range backends[:2] {
		t.Run(b.name, func(t *testing.T) {
			seg := create(t, b.newAddr, 4096)
			_, err := Create(seg.Address(), 4096)
			if !errors.Is(err, fs.ErrExist) || !errors.Is(err, syscall.EEXIST) {
				t.Fatalf("second Create: %v, want fs.ErrExist", err)
			}
			want := "shmlink: create " + seg.Address() + ": file exists"
			if err.Error() != want {
				t.Fatalf("error text %q, want %q", err, want)
			}
		})
	}
}

func TestNotExist(t *testing.T) {
	for _, addr := range []string{posixAddr(), sysvAddr(), "sysv-id:2147483600"} {
		_, err := Open(addr)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): %v, want fs.ErrNotExist", addr, err)
		} else if !strings.Contains(err.Error(), "shmlink: open "+addr+": ") {
			t.Errorf("Open error %q does not name op and address", err)
		}
		if err := Remove(addr); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Remove(%q): %v, want fs.ErrNotExist", addr, err)
		}
		if _, err := StatAddress(addr); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("StatAddress(%q): %v, want fs.ErrNotExist", addr, err)
		}
	}
}

func TestMalformedAddresses(t *testing.T) {
	bad := []string{
		"", "posix:", "posix:/", "/", "posix:/a/b", "//x", "posix:x", "noscheme",
		"sysv:", "sysv:0", "sysv:0x0", "sysv:abc", "sysv:0x1g", "sysv:-5", "sysv:4294967296",
		"sysv: 12", "sysv-id:", "sysv-id:-1", "sysv-id:x", "sysv-id:2147483648",
		"/a\x00b", " posix:/x", "mqueue:/x", "sysv:0x1 ", "sysv-id:1x",
		"posix:/" + strings.Repeat("n", 256),
	}
	ops := map[string]func(string) error{
		"create": func(a string) error { _, err := Create(a, 4096); return err },
		"open":   func(a string) error { _, err := Open(a); return err },
		"remove": Remove,
		"stat":   func(a string) error { _, err := StatAddress(a); return err },
	}
	for _, addr := range bad {
		for op, f := range ops {
			err := f(addr)
			if !errors.Is(err, syscall.EINVAL) {
				t.Errorf("%s(%q): %v, want EINVAL", op, addr, err)
				continue
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", addr)) || !strings.Contains(err.Error(), "malformed address") {
				t.Errorf("%s(%q): error %q does not name the malformed address", op, addr, err)
			}
		}
	}
	// The longest legal POSIX name works.
	long := fmt.Sprintf("posix:/shmlink-test-go-%d-", os.Getpid())
	long += strings.Repeat("x", 255-(len(long)-len("posix:/")))
	seg, err := Create(long, 4096)
	if err != nil {
		t.Fatalf("Create with a 255-byte name: %v", err)
	}
	removeOnCleanup(t, long)
	mustClose(t, seg)
}

func TestInvalidArguments(t *testing.T) {
	addr := posixAddr()
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"size 0", second(Create(addr, 0)), "size 0 must be > 0"},
		{"negative size", second(Create(addr, -1)), "size -1 must be > 0"},
		{"mode beyond 0777", second(Create(addr, 4096, WithMode(0o1777))), "outside the permission bits"},
		{"mode with type bits", second(Create(addr, 4096, WithMode(fs.ModeDir|0o700))), "outside the permission bits"},
		{"ReadOnly on Create", second(Create(addr, 4096, ReadOnly())), "ReadOnly option applies to Open"},
		{"WithMode on Open", second(Open(addr, WithMode(0o600))), "WithMode option applies to Create"},
		{"create sysv-id", second(Create("sysv-id:1", 4096)), "names an existing segment"},
		{"open sysv:private", second(Open("sysv:private")), "can only be created"},
		{"remove sysv:private", Remove("sysv:private"), "names no segment"},
		{"stat sysv:private", second(StatAddress("sysv:private")), "names no segment"},
	}
	for _, c := range cases {
		if !errors.Is(c.err, syscall.EINVAL) || !strings.Contains(fmt.Sprint(c.err), c.want) {
			t.Errorf("%s: got %v, want EINVAL saying %q", c.name, c.err, c.want)
		}
	}
	if _, err := Open(addr); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused Create left something behind: Open: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestReadAtWriteAtBounds(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			const size = 4096
			seg := create(t, b.newAddr, size)
			var _ io.ReaderAt = seg
			var _ io.WriterAt = seg

			n, err := seg.WriteAt([]byte("abcd"), size-2)
			if n != 2 || !errors.Is(err, io.ErrShortWrite) {
				t.Fatalf("WriteAt across the end = %d, %v; want 2, io.ErrShortWrite", n, err)
			}
			if got := string(seg.Bytes()[size-2:]); got != "ab" {
				t.Fatalf("tail after short write = %q", got)
			}
			for _, off := range []int64{size, size + 10} {
				if n, err := seg.WriteAt([]byte("x"), off); n != 0 || !errors.Is(err, io.ErrShortWrite) {
					t.Fatalf("WriteAt(off %d) = %d, %v", off, n, err)
				}
			}
			if n, err := seg.WriteAt(nil, size); n != 0 || err != nil {
				t.Fatalf("empty WriteAt at the end = %d, %v", n, err)
			}
			if _, err := seg.WriteAt([]byte("x"), -1); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("WriteAt(-1): %v", err)
			}

			p := make([]byte, 4)
			if n, err := seg.ReadAt(p, size-2); n != 2 || err != io.EOF || string(p[:2]) != "ab" {
				t.Fatalf("ReadAt across the end = %d, %v, %q; want 2, io.EOF", n, err, p[:n])
			}
			for _, off := range []int64{size, size + 1} {
				if n, err := seg.ReadAt(p, off); n != 0 || err != io.EOF {
					t.Fatalf("ReadAt(off %d) = %d, %v; want 0, io.EOF", off, n, err)
				}
			}
			if _, err := seg.ReadAt(p, -1); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("ReadAt(-1): %v", err)
			}
			if n, err := seg.ReadAt(p, 0); n != 4 || err != nil {
				t.Fatalf("ReadAt inside = %d, %v", n, err)
			}

			// io.SectionReader over the segment reads it whole.
			all, err := io.ReadAll(io.NewSectionReader(seg, 0, size+100))
			if err != nil || len(all) != size || string(all[size-2:]) != "ab" {
				t.Fatalf("ReadAll(SectionReader) = %d bytes, %v", len(all), err)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			seg := create(t, b.newAddr, 4096)
			copy(seg.Bytes(), "visible")
			ro, err := Open(seg.Address(), ReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			defer mustClose(t, ro)
			n, err := ro.WriteAt([]byte("x"), 0)
			if n != 0 || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "read-only") {
				t.Fatalf("WriteAt on read-only = %d, %v", n, err)
			}
			p := make([]byte, 7)
			if _, err := ro.ReadAt(p, 0); err != nil || string(p) != "visible" {
				t.Fatalf("ReadAt on read-only = %q, %v", p, err)
			}
			if string(ro.Bytes()[:7]) != "visible" || ro.Size() != 4096 {
				t.Fatal("read-only Bytes/Size wrong")
			}
			if _, err := ro.Stat(); err != nil {
				t.Fatal(err)
			}
			// Later writes by the writable mapping show through.
			copy(seg.Bytes(), "VISIBLE")
			if string(ro.Bytes()[:7]) != "VISIBLE" {
				t.Fatal("read-only mapping does not follow the writer")
			}
		})
	}
}

func TestStat(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			before := time.Now().Add(-2 * time.Second)
			seg := create(t, b.newAddr, 12345, WithMode(0o640))
			st, err := seg.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if st.Address != seg.Address() || st.Mode != 0o640 || st.UID != uint32(os.Geteuid()) || st.GID != uint32(os.Getegid()) {
				t.Fatalf("Stat = %+v", st)
			}
			if st.ChangeTime.Before(before) || st.ChangeTime.After(time.Now().Add(2*time.Second)) {
				t.Fatalf("ChangeTime %v not around now", st.ChangeTime)
			}
			if b.name == "posix" {
				if st.Backend != BackendPOSIX || st.Backend.String() != "posix" || st.Size < 12345 {
					t.Fatalf("Stat = %+v", st)
				}
				if st.ShmID != 0 || st.Key != 0 || st.Attached != 0 || st.CreatorPID != 0 || !st.AttachTime.IsZero() {
					t.Fatalf("POSIX Stat has System V fields: %+v", st)
				}
				if st.ModTime.IsZero() {
					t.Fatalf("POSIX Stat without ModTime: %+v", st)
				}
			} else {
				if st.Backend != BackendSysV || st.Backend.String() != "sysv" || st.Size != 12345 {
					t.Fatalf("Stat = %+v", st)
				}
				if st.Attached != 1 || st.CreatorPID != os.Getpid() || st.LastPID != os.Getpid() ||
					st.CreatorUID != uint32(os.Geteuid()) || st.AttachTime.IsZero() || st.ShmID < 0 {
					t.Fatalf("System V Stat = %+v", st)
				}
				if b.name == "sysv" && SysVAddress(st.Key) != seg.Address() {
					t.Fatalf("Stat.Key %#x does not match address %s", st.Key, seg.Address())
				}
				if b.name == "sysv-private" && (st.Key != 0 || seg.Address() != fmt.Sprintf("sysv-id:%d", st.ShmID)) {
					t.Fatalf("private: Key %#x ShmID %d address %s", st.Key, st.ShmID, seg.Address())
				}
				o, err := Open(seg.Address(), ReadOnly())
				if err != nil {
					t.Fatal(err)
				}
				st2, _ := seg.Stat()
				mustClose(t, o)
				st3, _ := seg.Stat()
				if st2.Attached != 2 || st3.Attached != 1 || st3.DetachTime.IsZero() {
					t.Fatalf("attach counts %d then %d, detach time %v", st2.Attached, st3.Attached, st3.DetachTime)
				}
			}
			byAddr, err := StatAddress(seg.Address())
			if err != nil {
				t.Fatal(err)
			}
			if byAddr.Address != st.Address || byAddr.Size != st.Size || byAddr.Mode != st.Mode || byAddr.Backend != st.Backend {
				t.Fatalf("StatAddress = %+v, Stat = %+v", byAddr, st)
			}
		})
	}
}

func TestDefaultMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, b := range backends {
		seg := create(t, b.newAddr, 4096)
		if st, err := seg.Stat(); err != nil || st.Mode != 0o600 {
			t.Fatalf("%s: default mode %v, %v; want 0600", b.name, st.Mode, err)
		}
		seg2 := create(t, b.newAddr, 4096, WithMode(0o666))
		if st, err := seg2.Stat(); err != nil || st.Mode != 0o666 {
			t.Fatalf("%s: WithMode(0666) under umask 077 gave %v, %v", b.name, st.Mode, err)
		}
	}
}

func TestCloseAndUseAfterClose(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			seg := create(t, b.newAddr, 4096)
			addr := seg.Address()
			copy(seg.Bytes(), "lives on")
			if err := seg.Close(); err != nil {
				t.Fatal(err)
			}
			if err := seg.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if seg.Bytes() != nil || seg.Size() != 0 || seg.Address() != addr {
				t.Fatalf("after Close: Bytes %v Size %d Address %q", seg.Bytes() != nil, seg.Size(), seg.Address())
			}
			_, rerr := seg.ReadAt(make([]byte, 1), 0)
			_, werr := seg.WriteAt([]byte("x"), 0)
			_, serr := seg.Stat()
			for op, err := range map[string]error{"read": rerr, "write": werr, "stat": serr, "remove": seg.Remove()} {
				if !errors.Is(err, ErrClosed) || !errors.Is(err, fs.ErrClosed) || !strings.Contains(err.Error(), op+" "+addr) {
					t.Errorf("%s after Close: %v, want ErrClosed naming %q", op, err, op+" "+addr)
				}
			}
			// The segment itself lives on.
			o, err := Open(addr)
			if err != nil {
				t.Fatalf("reopen after Close: %v", err)
			}
			defer mustClose(t, o)
			if string(o.Bytes()[:8]) != "lives on" {
				t.Fatal("contents lost after Close")
			}
		})
	}
}

func TestRemoveKeepsMappings(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			seg := create(t, b.newAddr, 4096)
			addr := seg.Address()
			other, err := Open(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer mustClose(t, other)
			if err := seg.Remove(); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			// A removed System V segment keeps its id while attached, and
			// Linux lets shmat attach it by id until the last detach, so only
			// named segments are gone at once; see the end of the test.
			if b.name != "sysv-private" {
				if _, err := Open(addr); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Open after Remove: %v, want fs.ErrNotExist", err)
				}
			}
			if err := Remove(addr); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("second Remove(addr): %v, want fs.ErrNotExist", err)
			}
			if err := seg.Remove(); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("second seg.Remove: %v, want fs.ErrNotExist", err)
			}
			// Both mappings still work and still share memory.
			if _, err := seg.WriteAt([]byte("still here"), 0); err != nil {
				t.Fatal(err)
			}
			if string(other.Bytes()[:10]) != "still here" {
				t.Fatal("mappings no longer shared after Remove")
			}
			if _, err := seg.Stat(); err != nil {
				t.Fatalf("Stat of a removed, still mapped segment: %v", err)
			}
			if b.name == "posix" {
				if _, err := os.Stat("/dev/shm/" + strings.TrimPrefix(addr, "posix:/")); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("/dev/shm entry still there: %v", err)
				}
			}
			mustClose(t, seg)
			mustClose(t, other)
			if _, err := Open(addr); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Open after Remove and last Close: %v, want fs.ErrNotExist", err)
			}
		})
	}
}

// A handle whose name was removed and taken by a newer segment must not
// remove the newer one.
func TestRemoveByOldHandleSparesNewer(t *testing.T) {
	for _, b := range backends {
		if b.name == "sysv-private" {
			continue // no name to be taken again
		}
		t.Run(b.name, func(t *testing.T) {
			old := create(t, b.newAddr, 4096)
			addr := old.Address()
			if err := old.Remove(); err != nil {
				t.Fatal(err)
			}
			newer, err := Create(addr, 8192)
			if err != nil {
				t.Fatal(err)
			}
			removeOnCleanup(t, addr)
			defer mustClose(t, newer)
			if err := old.Remove(); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Remove by the old handle: %v, want fs.ErrNotExist", err)
			}
			st, err := StatAddress(addr)
			if err != nil || st.Size != 8192 {
				t.Fatalf("the newer segment after the old handle's Remove: %+v, %v", st, err)
			}
		})
	}
}

func TestRemoveByAddress(t *testing.T) {
	for _, b := range backends {
		seg := create(t, b.newAddr, 4096)
		mustClose(t, seg) // a private segment lingers while attached
		if err := Remove(seg.Address()); err != nil {
			t.Fatalf("%s: Remove(%q): %v", b.name, seg.Address(), err)
		}
		if _, err := StatAddress(seg.Address()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: StatAddress after Remove: %v", b.name, err)
		}
	}
}

func TestCreateTooLargeLeavesNothing(t *testing.T) {
	for _, b := range backends[:2] {
		addr := b.newAddr()
		removeOnCleanup(t, addr) // in case it is made after all
		seg, err := Create(addr, 1<<50)
		if err == nil {
			mustClose(t, seg)
			t.Fatalf("%s: Create of 1 PiB succeeded", b.name)
		}
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EFBIG) && !errors.Is(err, syscall.ENOMEM) && !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: Create of 1 PiB: %v, want ENOSPC/EFBIG/ENOMEM/EINVAL", b.name, err)
		}
		t.Logf("%s: %v", b.name, err)
		if _, err := StatAddress(addr); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: failed Create left a segment behind: %v", b.name, err)
		}
	}
}

func TestSysVKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keyfile")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k1, err := SysVKey(path, 'G')
	if err != nil || k1 == 0 {
		t.Fatalf("SysVKey = %#x, %v", k1, err)
	}
	k2, _ := SysVKey(path, 'G')
	k3, _ := SysVKey(path, 'H')
	if k1 != k2 || k1 == k3 {
		t.Fatalf("keys %#x %#x %#x: want same path+proj equal, other proj different", k1, k2, k3)
	}
	if !regexp.MustCompile(`^sysv:0x[0-9a-f]{8}$`).MatchString(SysVAddress(k1)) {
		t.Fatalf("SysVAddress = %q", SysVAddress(k1))
	}
	if _, err := SysVKey(filepath.Join(dir, "missing"), 1); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("SysVKey(missing): %v", err)
	}
	for _, proj := range []int{0, -1, 256} {
		if _, err := SysVKey(path, proj); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), fmt.Sprint(proj)) {
			t.Fatalf("SysVKey(proj %d): %v", proj, err)
		}
	}
	if _, err := SysVKey("a\x00b", 1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("SysVKey(NUL path): %v", err)
	}
	// The key works as an address (unless a stranger holds it).
	seg, err := Create(SysVAddress(k1), 4096)
	if errors.Is(err, fs.ErrExist) {
		t.Skipf("key %#x taken by another segment", k1)
	}
	if err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, seg.Address())
	mustClose(t, seg)
}

func TestErrorSentinels(t *testing.T) {
	cases := []struct {
		errno    syscall.Errno
		sentinel error
	}{
		{syscall.EBUSY, ErrBusy},
		{syscall.EPIPE, ErrPeerDead},
		{syscall.EPROTO, ErrProtocol},
		{syscall.ETIMEDOUT, os.ErrDeadlineExceeded},
	}
	for _, c := range cases {
		err := opError("open", "posix:/x", -int(c.errno))
		if !errors.Is(err, c.sentinel) || !errors.Is(err, c.errno) {
			t.Errorf("%v: errors.Is sentinel %v, errno %v", err, errors.Is(err, c.sentinel), errors.Is(err, c.errno))
		}
		if want := "shmlink: open posix:/x: " + c.errno.Error(); err.Error() != want {
			t.Errorf("text %q, want %q", err, want)
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) || errno != c.errno {
			t.Errorf("errors.As gave %v", errno)
		}
		for _, other := range cases {
			if other.sentinel != c.sentinel && errors.Is(err, other.sentinel) {
				t.Errorf("%v matches the wrong sentinel %v", err, other.sentinel)
			}
		}
	}
	if err := opError("open", "posix:/x", -int(syscall.EACCES)); !errors.Is(err, fs.ErrPermission) || errors.Is(err, ErrBusy) {
		t.Errorf("EACCES error: %v", err)
	}
}

// The exported constants are plain numbers (so go doc shows no cgo names);
// they must stay equal to the C core's.
func TestBackendConstantsMatchC(t *testing.T) {
	posix, sysv := cBackends()
	if BackendPOSIX != posix || BackendSysV != sysv {
		t.Fatalf("BackendPOSIX = %d, BackendSysV = %d; the C core has %d, %d", BackendPOSIX, BackendSysV, posix, sysv)
	}
	if BackendPOSIX.String() != "posix" || BackendSysV.String() != "sysv" || Backend(9).String() != "Backend(9)" {
		t.Fatalf("String: %v %v %v", BackendPOSIX, BackendSysV, Backend(9))
	}
}
