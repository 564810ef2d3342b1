// Command sysv-private shares a private System V segment with a child
// process: the parent creates it (shmget(IPC_PRIVATE) through shmlink),
// writes a message, starts a child that attaches the segment by id, reads
// the message and answers in the same memory; then the parent reads the
// answer, shows the segment's attach statistics and removes it.
//
//	go run ./examples/sysv-private
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

const (
	size        = 4096
	replyOffset = 2048
)

func main() {
	var err error
	if len(os.Args) == 3 && os.Args[1] == "child" {
		err = child(os.Args[2])
	} else if len(os.Args) == 1 {
		err = parent()
	} else {
		err = fmt.Errorf("usage: %s (the child mode is internal)", os.Args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sysv-private:", err)
		os.Exit(1)
	}
}

func parent() (err error) {
	seg, err := shmlink.Create("sysv:private", size)
	if err != nil {
		return err
	}
	addr := seg.Address() // "sysv-id:N": how other processes find it
	removed := false
	defer func() { // on every path: detach, and remove the segment unless done below
		err = errors.Join(err, seg.Close())
		if !removed {
			err = errors.Join(err, shmlink.Remove(addr))
		}
	}()
	fmt.Printf("parent: created %s (%d bytes)\n", addr, seg.Size())

	msg := fmt.Sprintf("hello from parent %d", os.Getpid())
	copy(seg.Bytes(), msg)
	fmt.Printf("parent: wrote %q\n", msg)

	cmd := exec.Command(os.Args[0], "child", addr)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("child: %w", err)
	}

	// The child has detached; its answer is still in the segment.
	reply := cString(seg.Bytes()[replyOffset:])
	fmt.Printf("parent: child answered %q\n", reply)
	st, err := seg.Stat()
	if err != nil {
		return err
	}
	fmt.Printf("parent: stat: id %d, attached %d, creator pid %d, last attach/detach by pid %d (the child is %d)\n",
		st.ShmID, st.Attached, st.CreatorPID, st.LastPID, cmd.Process.Pid)
	if st.LastPID != cmd.Process.Pid {
		return fmt.Errorf("last pid %d is not the child %d", st.LastPID, cmd.Process.Pid)
	}
	if err := seg.Remove(); err != nil {
		return err
	}
	removed = true
	fmt.Println("parent: removed the segment")
	return nil
}

func child(addr string) (err error) {
	seg, err := shmlink.Open(addr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, seg.Close()) }() // read and write before detaching, never after
	msg := cString(seg.Bytes())
	fmt.Printf("child %d: read %q\n", os.Getpid(), msg)
	_, err = seg.WriteAt([]byte(fmt.Sprintf("child %d got %d bytes", os.Getpid(), len(msg))), replyOffset)
	return err
}

// cString returns b up to its first NUL byte.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
