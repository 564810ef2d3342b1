//go:build linux && cgo

package shmlink_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

// exampleAddr gives each example its own POSIX name.
func exampleAddr(what string) string {
	return fmt.Sprintf("posix:/shmlink-example-%s-%d", what, os.Getpid())
}

func ExampleCreate() {
	addr := exampleAddr("create")
	seg, err := shmlink.Create(addr, 4096, shmlink.WithMode(0o600))
	if err != nil {
		log.Fatal(err)
	}
	copy(seg.Bytes(), "hello, shared memory") // zero copy: this is the mapping
	fmt.Println(seg.Size(), string(seg.Bytes()[:20]))

	if err := seg.Close(); err != nil { // unmaps; the segment lives on
		log.Fatal(err)
	}
	if err := shmlink.Remove(addr); err != nil { // removes it
		log.Fatal(err)
	}
	// Output: 4096 hello, shared memory
}

func ExampleOpen() {
	addr := exampleAddr("open")
	w, err := shmlink.Create(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("ping"), 0); err != nil {
		log.Fatal(err)
	}

	// Another process would do just this.
	r, err := shmlink.Open(addr, shmlink.ReadOnly())
	if err != nil {
		log.Fatal(err)
	}
	p := make([]byte, 4)
	if _, err := r.ReadAt(p, 0); err != nil {
		log.Fatal(err)
	}
	_, err = r.WriteAt([]byte("pong"), 0)
	fmt.Println(string(p), errors.Is(err, fs.ErrPermission))

	for _, seg := range []*shmlink.Segment{r, w} {
		if err := seg.Close(); err != nil {
			log.Fatal(err)
		}
	}
	if err := shmlink.Remove(addr); err != nil {
		log.Fatal(err)
	}
	// Output: ping true
}

func ExampleOpen_notExist() {
	_, err := shmlink.Open("posix:/shmlink-example-no-such-segment")
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	fmt.Println(err)
	// Output:
	// true
	// shmlink: open posix:/shmlink-example-no-such-segment: no such file or directory
}

func ExampleCreate_malformedAddress() {
	_, err := shmlink.Create("posix:/no/slashes", 4096)
	fmt.Println(err)
	// Output: shmlink: create: malformed address "posix:/no/slashes" (want posix:/name, /name, sysv:KEY, sysv:private or sysv-id:N): invalid argument
}

func ExampleCreate_sysvPrivate() {
	seg, err := shmlink.Create("sysv:private", 1024)
	if err != nil {
		log.Fatal(err)
	}
	st, err := seg.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Backend, st.Size, st.Key, st.Attached, st.CreatorPID == os.Getpid())

	if err := seg.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(seg.Address()); err != nil { // "sysv-id:N"
		log.Fatal(err)
	}
	// Output: sysv 1024 0 1 true
}

func ExampleSegment_Stat() {
	addr := exampleAddr("stat")
	seg, err := shmlink.Create(addr, 8192, shmlink.WithMode(0o640))
	if err != nil {
		log.Fatal(err)
	}
	st, err := seg.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Backend, st.Size, st.Mode, st.Address == addr)

	if err := seg.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(addr); err != nil {
		log.Fatal(err)
	}
	// Output: posix 8192 -rw-r----- true
}

func ExampleSegment_ReadAt() {
	addr := exampleAddr("readat")
	seg, err := shmlink.Create(addr, 16)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := seg.WriteAt([]byte("0123456789abcdef"), 0); err != nil {
		log.Fatal(err)
	}

	p := make([]byte, 8)
	n, err := seg.ReadAt(p, 12) // only 4 bytes left: io.EOF, as io.ReaderAt says
	fmt.Println(n, string(p[:n]), err == io.EOF)

	if err := seg.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(addr); err != nil {
		log.Fatal(err)
	}
	// Output: 4 cdef true
}

func ExampleSegment_Close() {
	addr := exampleAddr("close")
	seg, err := shmlink.Create(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	if err := seg.Close(); err != nil {
		log.Fatal(err)
	}
	_, err = seg.ReadAt(make([]byte, 1), 0)
	fmt.Println(seg.Bytes() == nil, errors.Is(err, shmlink.ErrClosed), seg.Close())

	if err := shmlink.Remove(addr); err != nil {
		log.Fatal(err)
	}
	// Output: true true <nil>
}

func ExampleSysVKey() {
	f, err := os.CreateTemp("", "shmlink-example-key-")
	if err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}

	key, err := shmlink.SysVKey(f.Name(), 'E')
	if err != nil {
		log.Fatal(err)
	}
	seg, err := shmlink.Create(shmlink.SysVAddress(key), 4096)
	if err != nil {
		log.Fatal(err)
	}
	st, err := seg.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Key == key, seg.Address() == shmlink.SysVAddress(key))

	if err := seg.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(seg.Address()); err != nil { // the name outlives the mapping
		log.Fatal(err)
	}
	if err := os.Remove(f.Name()); err != nil {
		log.Fatal(err)
	}
	// Output: true true
}

func ExampleRemove() {
	addr := exampleAddr("remove")
	seg, err := shmlink.Create(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(addr); err != nil {
		log.Fatal(err)
	}
	_, err = shmlink.Open(addr)
	copy(seg.Bytes(), "still mapped") // the mapping outlives the name
	fmt.Println(errors.Is(err, fs.ErrNotExist), string(seg.Bytes()[:12]))

	if err := seg.Close(); err != nil { // and is freed after the last Close
		log.Fatal(err)
	}
	// Output: true still mapped
}
