// Command posix shares a POSIX segment (shm_open + mmap, a file in
// /dev/shm) with a child process: the parent creates it, writes a message,
// the child opens it read-only by name and prints what it reads; then the
// parent shows the segment's stat and removes the name.
//
//	go run ./examples/posix [NAME]
//
// NAME defaults to /shmlink-example-posix-PID.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "child":
		err = child(os.Args[2])
	case len(os.Args) <= 2:
		addr := fmt.Sprintf("posix:/shmlink-example-posix-%d", os.Getpid())
		if len(os.Args) == 2 {
			addr = os.Args[1]
		}
		err = parent(addr)
	default:
		err = fmt.Errorf("usage: %s [NAME]", os.Args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "posix:", err)
		os.Exit(1)
	}
}

func parent(addr string) (err error) {
	seg, err := shmlink.Create(addr, 4096, shmlink.WithMode(0o600))
	if err != nil {
		return err
	}
	removed := false
	defer func() { // on every path: unmap, and remove the segment unless done below
		err = errors.Join(err, seg.Close())
		if !removed {
			err = errors.Join(err, shmlink.Remove(seg.Address()))
		}
	}()
	msg := "hello through /dev/shm"
	copy(seg.Bytes(), msg)
	fmt.Printf("parent: created %s, wrote %q\n", seg.Address(), msg)

	cmd := exec.Command(os.Args[0], "child", seg.Address())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("child: %w", err)
	}

	st, err := seg.Stat()
	if err != nil {
		return err
	}
	fmt.Printf("parent: stat: %s %s size %d mode %v uid %d\n", st.Backend, st.Address, st.Size, st.Mode, st.UID)
	if err := seg.Remove(); err != nil {
		return err
	}
	removed = true
	fmt.Println("parent: removed", seg.Address())
	return nil
}

func child(addr string) (err error) {
	seg, err := shmlink.Open(addr, shmlink.ReadOnly())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, seg.Close()) }()
	b := seg.Bytes()
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	fmt.Printf("child: read %q from %s\n", b, addr)
	return nil
}
