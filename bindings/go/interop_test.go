//go:build linux && cgo

package shmlink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A shmlink System V segment is an ordinary one: golang.org/x/sys/unix
// finds it by key and attaches the same bytes, both ways round.
func TestInteropSysVWithXSys(t *testing.T) {
	seg := create(t, sysvAddr, 8192)
	st, err := seg.Stat()
	if err != nil {
		t.Fatal(err)
	}
	id, err := unix.SysvShmGet(int(st.Key), 0, 0)
	if err != nil {
		t.Fatalf("SysvShmGet(%#x): %v", st.Key, err)
	}
	if id != st.ShmID {
		t.Fatalf("x/sys sees id %d, shmlink %d", id, st.ShmID)
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.SysvShmDetach(mem); err != nil {
			t.Error(err)
		}
	})
	if len(mem) != 8192 {
		t.Fatalf("x/sys attached %d bytes", len(mem))
	}
	copy(seg.Bytes(), "from shmlink")
	if !bytes.HasPrefix(mem, []byte("from shmlink")) {
		t.Fatal("x/sys mapping does not see shmlink's write")
	}
	copy(mem[100:], "from x/sys")
	if string(seg.Bytes()[100:110]) != "from x/sys" {
		t.Fatal("shmlink mapping does not see x/sys's write")
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		t.Fatal(err)
	}
	if ds.Nattch != 2 || ds.Segsz != 8192 || int(ds.Perm.Mode&0o777) != 0o600 {
		t.Fatalf("IPC_STAT: nattch %d size %d mode %o", ds.Nattch, ds.Segsz, ds.Perm.Mode&0o777)
	}
	if st2, _ := seg.Stat(); st2.Attached != 2 {
		t.Fatalf("shmlink Stat sees %d attachments, want 2", st2.Attached)
	}
}

func TestInteropXSysSegmentOpenedByShmlink(t *testing.T) {
	var id int
	var addr string
	for tries := 0; ; tries++ {
		addr = sysvAddr()
		var key uint32
		if _, err := fmt.Sscanf(strings.TrimPrefix(addr, "sysv:"), "0x%x", &key); err != nil {
			t.Fatal(err)
		}
		var err error
		id, err = unix.SysvShmGet(int(key), 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
		if errors.Is(err, unix.EEXIST) && tries < 20 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	t.Cleanup(func() {
		// Removed by the test already unless it failed early.
		if _, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
			t.Error(err)
		}
	})
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.SysvShmDetach(mem); err != nil {
			t.Error(err)
		}
	})
	copy(mem, "made by x/sys")
	for _, a := range []string{addr, fmt.Sprintf("sysv-id:%d", id)} {
		seg, err := Open(a, ReadOnly())
		if err != nil {
			t.Fatalf("Open(%q): %v", a, err)
		}
		if seg.Size() != 4096 || string(seg.Bytes()[:13]) != "made by x/sys" {
			t.Fatalf("Open(%q): size %d, %q", a, seg.Size(), seg.Bytes()[:13])
		}
		mustClose(t, seg)
	}
	if err := Remove(addr); err != nil {
		t.Fatal(err)
	}
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil || ds.Perm.Mode&shmDest == 0 {
		t.Fatalf("after shmlink.Remove the segment is not marked for removal: mode %#o, %v", ds.Perm.Mode, err)
	}
}

// A shmlink POSIX segment is a file in /dev/shm: reading and writing the
// file is reading and writing the segment, both ways round.
func TestInteropPOSIXWithDevShm(t *testing.T) {
	seg := create(t, posixAddr, 4096)
	path := "/dev/shm/" + strings.TrimPrefix(seg.Address(), "posix:/")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, f)
	if fi, err := f.Stat(); err != nil || fi.Size() != 4096 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("/dev/shm file: %v, %v", fi, err)
	}
	copy(seg.Bytes()[10:], "from shmlink")
	got := make([]byte, 12)
	if _, err := f.ReadAt(got, 10); err != nil || string(got) != "from shmlink" {
		t.Fatalf("file reads %q, %v", got, err)
	}
	if _, err := f.WriteAt([]byte("from the file"), 2000); err != nil {
		t.Fatal(err)
	}
	if string(seg.Bytes()[2000:2013]) != "from the file" {
		t.Fatal("segment does not see the file write")
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Munmap(mem); err != nil {
			t.Error(err)
		}
	})
	seg.Bytes()[4095] = 0xee
	if mem[4095] != 0xee {
		t.Fatal("an mmap of the /dev/shm file does not see the segment's write")
	}
}

func TestInteropDevShmFileOpenedByShmlink(t *testing.T) {
	addr := posixAddr()
	path := "/dev/shm/" + strings.TrimPrefix(addr, "posix:/")
	if err := os.WriteFile(path, append([]byte("made as a file"), make([]byte, 5000)...), 0o600); err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, addr)
	seg, err := Open(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, seg)
	if seg.Size() != 5014 || string(seg.Bytes()[:14]) != "made as a file" {
		t.Fatalf("size %d, %q", seg.Size(), seg.Bytes()[:14])
	}
	if _, err := Create(addr, 4096); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: %v", err)
	}
	if err := Remove(addr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still there after Remove: %v", err)
	}
}

// shmDest is SHM_DEST from <linux/shm.h> (not exported by x/sys/unix): the
// mode bit of a segment marked for removal.
const shmDest = 0o1000
