//go:build linux && cgo

package shmlink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperProcess is not a test: the other tests re-execute the test
// binary with SHMLINK_TEST_HELPER set to run code in a second process.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("SHMLINK_TEST_HELPER")
	if mode == "" {
		return
	}
	addr := os.Getenv("SHMLINK_TEST_ADDR")
	code := 0
	switch mode {
	case "read-reply":
		// Print what the parent wrote (a NUL-terminated string at 0), then
		// write a reply at offset 1024.
		seg, err := Open(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		msg := seg.Bytes()[:bytes.IndexByte(seg.Bytes(), 0)]
		fmt.Printf("child read %q size %d\n", msg, seg.Size())
		if _, err := seg.WriteAt([]byte(fmt.Sprintf("reply from %d", os.Getpid())), 1024); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 4
		}
		if err := seg.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 4
		}
	case "open-expect-permission":
		_, err := Open(addr)
		if !errors.Is(err, fs.ErrPermission) {
			fmt.Printf("Open as uid %d: %v, want fs.ErrPermission\n", os.Geteuid(), err)
			code = 5
		} else {
			fmt.Printf("ok: %v\n", err)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		code = 2
	}
	os.Exit(code)
}

func helperCommand(t *testing.T, mode, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SHMLINK_TEST_HELPER="+mode, "SHMLINK_TEST_ADDR="+addr)
	cmd.WaitDelay = time.Minute
	return cmd
}

func TestSecondProcess(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			seg := create(t, b.newAddr, 4096)
			msg := "written by parent " + b.name
			copy(seg.Bytes(), msg)
			out, err := helperCommand(t, "read-reply", seg.Address()).CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if want := fmt.Sprintf("child read %q size 4096\n", msg); string(out) != want {
				t.Fatalf("child printed %q, want %q", out, want)
			}
			reply := seg.Bytes()[1024:]
			reply = reply[:bytes.IndexByte(reply, 0)]
			if !strings.HasPrefix(string(reply), "reply from ") || string(reply) == fmt.Sprintf("reply from %d", os.Getpid()) {
				t.Fatalf("reply from the child: %q", reply)
			}
			if b.name != "posix" {
				st, err := seg.Stat()
				if err != nil {
					t.Fatal(err)
				}
				if st.Attached != 1 || st.LastPID == os.Getpid() || st.LastPID <= 0 {
					t.Fatalf("after the child detached: Attached %d LastPID %d (ours %d)", st.Attached, st.LastPID, os.Getpid())
				}
			}
		})
	}
}

// TestPermissionDenied opens a 0600 segment from another user: as root it
// runs the helper as nobody; otherwise it opens a mode-000 segment itself.
func TestPermissionDenied(t *testing.T) {
	var binary, binaryDir string
	if isRoot() {
		binary, binaryDir = worldExecutableTestBinary(t)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if !isRoot() {
				seg := create(t, b.newAddr, 4096, WithMode(0))
				if _, err := Open(seg.Address()); !errors.Is(err, fs.ErrPermission) {
					t.Fatalf("Open of a mode-000 segment: %v, want fs.ErrPermission", err)
				}
				return
			}
			seg := create(t, b.newAddr, 4096, WithMode(0o600))
			cmd := helperCommand(t, "open-expect-permission", seg.Address())
			cmd.Path, cmd.Dir = binary, binaryDir
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.CombinedOutput()
			if errors.Is(err, syscall.EPERM) {
				t.Skipf("cannot run a process as nobody here: %v", err)
			}
			if err != nil {
				t.Fatalf("helper as nobody: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), seg.Address()) {
				t.Fatalf("helper output %q", out)
			}
		})
	}
}

// worldExecutableTestBinary copies the test binary (whose build directory
// only its owner may enter) into a new directory everyone may read, removed
// when t ends, and returns the copy's path and directory.
func worldExecutableTestBinary(t *testing.T) (path, dir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "shmlink-test-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "shmlink.test")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, dir
}
