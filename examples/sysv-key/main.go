// Command sysv-key uses a System V segment named by a key made with ftok
// (shmlink.SysVKey) from a file: it creates the segment, writes a message,
// attaches it a second time read-only by the same key as another program
// would, reads the message there (before detaching), shows the segment's
// statistics, and removes it.
//
//	go run ./examples/sysv-key [FILE]
//
// Without FILE the program makes a temporary file for the key.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sysv-key:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	var path string
	switch len(os.Args) {
	case 1:
		f, err := os.CreateTemp("", "shmlink-example-key-")
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.Remove(f.Name())) }()
		if err := f.Close(); err != nil {
			return err
		}
		path = f.Name()
	case 2:
		path = os.Args[1]
	default:
		return fmt.Errorf("usage: %s [FILE]", os.Args[0])
	}

	key, err := shmlink.SysVKey(path, 'S')
	if err != nil {
		return err
	}
	addr := shmlink.SysVAddress(key)
	fmt.Printf("key of %s, project 'S': %#x, address %s\n", path, key, addr)

	seg, err := shmlink.Create(addr, 1024, shmlink.WithMode(0o600))
	if err != nil {
		return err // fs.ErrExist if the key is taken
	}
	removed := false
	defer func() { // on every path: detach, and remove the segment unless done below
		err = errors.Join(err, seg.Close())
		if !removed {
			err = errors.Join(err, shmlink.Remove(addr))
		}
	}()
	msg := "a message kept under a System V key"
	if _, err := seg.WriteAt([]byte(msg), 0); err != nil {
		return err
	}
	fmt.Printf("wrote %q\n", msg)

	reader, err := shmlink.Open(addr, shmlink.ReadOnly())
	if err != nil {
		return err
	}
	buf := make([]byte, 64)
	if _, err := reader.ReadAt(buf, 0); err != nil {
		return errors.Join(err, reader.Close())
	}
	st, err := reader.Stat()
	// Detach only after the last read.
	if err := errors.Join(err, reader.Close()); err != nil {
		return err
	}
	fmt.Printf("second attachment read %q\n", bytes.TrimRight(buf, "\x00"))
	fmt.Printf("stat: %s id %d key %#x size %d mode %v attached %d\n",
		st.Backend, st.ShmID, st.Key, st.Size, st.Mode, st.Attached)

	if err := seg.Remove(); err != nil {
		return err
	}
	removed = true
	fmt.Println("removed", addr)
	return nil
}
