//go:build linux && cgo

package shmlink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

// closeAndRemove ends the examples below that make a writer and a reader
// in one process: both close, then the segment is removed.
func closeAndRemove(w *shmlink.Writer, r *shmlink.Reader) {
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	if err := r.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(w.Address()); err != nil {
		log.Fatal(err)
	}
}

// A writer and a reader, here in one process; normally each is in its own.
func ExampleCreateWriter() {
	addr := exampleAddr("chan-writer")
	w, err := shmlink.CreateWriter(addr, 1<<16)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr) // another process would do this
	if err != nil {
		log.Fatal(err)
	}

	for _, s := range []string{"one", "two", "three"} {
		if err := w.Send([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // end of stream
		log.Fatal(err)
	}

	buf := make([]byte, r.MaxMessage())
	for {
		n, err := r.Recv(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(buf[:n]))
	}

	if err := r.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(addr); err != nil { // the creator removes the segment when done
		log.Fatal(err)
	}
	// Output:
	// one
	// two
	// three
}

// The reader may create the channel and wait for a writer.
func ExampleCreateReader() {
	addr := exampleAddr("chan-reader")
	r, err := shmlink.CreateReader(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	go func() { // another process would do this
		w, err := shmlink.OpenWriter(addr)
		if err != nil {
			log.Fatal(err)
		}
		if err := w.Send([]byte("hello from the writer")); err != nil {
			log.Fatal(err)
		}
		if err := w.Close(); err != nil {
			log.Fatal(err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg, err := r.RecvContext(ctx)
	fmt.Printf("%s %v\n", msg, err)
	_, err = r.RecvContext(ctx)
	fmt.Println(err == io.EOF)

	if err := r.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(addr); err != nil {
		log.Fatal(err)
	}
	// Output:
	// hello from the writer <nil>
	// true
}

// Zero copy on both sides: fill the ring in place, read it in place.
func ExampleWriter_Reserve() {
	addr := exampleAddr("chan-reserve")
	w, err := shmlink.CreateWriter(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr)
	if err != nil {
		log.Fatal(err)
	}

	p, err := w.Reserve(64) // room for up to 64 bytes, inside the ring
	if err != nil {
		log.Fatal(err)
	}
	n := copy(p, "built in place")
	if err := w.Commit(n); err != nil { // publish n bytes; p must not be used any more
		log.Fatal(err)
	}

	m, err := r.Peek() // the message in place
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(m), len(m))
	if err := r.Release(); err != nil { // m must not be used any more
		log.Fatal(err)
	}

	closeAndRemove(w, r)
	// Output: built in place 14
}

func ExampleReader_RecvBatch() {
	addr := exampleAddr("chan-batch")
	w, err := shmlink.CreateWriter(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr)
	if err != nil {
		log.Fatal(err)
	}

	for _, s := range []string{"a", "bb", "ccc"} {
		if err := w.Send([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}
	buf := make([]byte, 1024)
	sizes := make([]int, 16)
	k, err := r.RecvBatch(buf, sizes) // everything already there, in one call
	if err != nil {
		log.Fatal(err)
	}
	off := 0
	for _, n := range sizes[:k] {
		fmt.Printf("%q ", buf[off:off+n])
		off += n
	}
	fmt.Println(k)

	closeAndRemove(w, r)
	// Output: "a" "bb" "ccc" 3
}

func ExampleReader_Recv_errors() {
	addr := exampleAddr("chan-errors")
	w, err := shmlink.CreateWriter(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr)
	if err != nil {
		log.Fatal(err)
	}

	_, err = r.RecvTimeout(make([]byte, 16), 10*time.Millisecond)
	fmt.Println("empty:", errors.Is(err, os.ErrDeadlineExceeded))

	if err := w.Send([]byte("a message of 25 bytes ...")); err != nil {
		log.Fatal(err)
	}
	n, err := r.Recv(make([]byte, 4))
	fmt.Println("small buffer:", n, errors.Is(err, io.ErrShortBuffer))

	_, err = shmlink.OpenWriter(addr)
	fmt.Println("second writer:", errors.Is(err, shmlink.ErrBusy))

	closeAndRemove(w, r)
	// Output:
	// empty: true
	// small buffer: 25 true
	// second writer: true
}

// Receiving in a range loop: the loop ends at the end of the stream, and
// any failure (here none) comes as err.
func ExampleReader_Messages() {
	addr := exampleAddr("chan-messages")
	w, err := shmlink.CreateWriter(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range []string{"alpha", "beta", "gamma"} {
		if err := w.Send([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // end of stream: the loop below ends
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for msg, err := range r.Messages(ctx) {
		if err != nil {
			log.Fatal(err) // ctx done, writer dead, Close, ...
		}
		fmt.Println(string(msg)) // msg is reused by the next message: copy it to keep it
	}

	if err := r.Close(); err != nil {
		log.Fatal(err)
	}
	if err := shmlink.Remove(addr); err != nil {
		log.Fatal(err)
	}
	// Output:
	// alpha
	// beta
	// gamma
}

// Many messages with one call, crossing into C once per 16 messages.
func ExampleWriter_SendBatch() {
	addr := exampleAddr("chan-sendbatch")
	w, err := shmlink.CreateWriter(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr)
	if err != nil {
		log.Fatal(err)
	}

	msgs := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}
	n, err := w.SendBatch(msgs)
	fmt.Println(n, err)

	buf, sizes := make([]byte, 64), make([]int, 8)
	k, err := r.RecvBatch(buf, sizes) // the mirror: many messages in one call
	fmt.Println(k, sizes[:k], string(buf[:6]), err)

	closeAndRemove(w, r)
	// Output:
	// 3 <nil>
	// 3 [1 2 3] abbccc <nil>
}

// RecvInto waits until its context is done and receives into the caller's
// buffer; a message that arrives later stays in the channel.
func ExampleReader_RecvInto() {
	addr := exampleAddr("chan-recvinto")
	w, err := shmlink.CreateWriter(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr)
	if err != nil {
		log.Fatal(err)
	}

	buf := make([]byte, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = r.RecvInto(ctx, buf) // nothing comes in time
	fmt.Println(errors.Is(err, context.DeadlineExceeded))

	if err := w.Send([]byte("late")); err != nil {
		log.Fatal(err)
	}
	n, err := r.RecvInto(context.Background(), buf)
	fmt.Println(string(buf[:n]), err)

	closeAndRemove(w, r)
	// Output:
	// true
	// late <nil>
}

// A Writer is an io.Writer that sends each Write as one message, so
// fmt.Fprintf writes one message.
func ExampleWriter_Write() {
	addr := exampleAddr("chan-write")
	w, err := shmlink.CreateWriter(addr, 4096)
	if err != nil {
		log.Fatal(err)
	}
	r, err := shmlink.OpenReader(addr)
	if err != nil {
		log.Fatal(err)
	}

	for i := 1; i <= 2; i++ {
		if _, err := fmt.Fprintf(w, "job %d", i); err != nil {
			log.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for i := 0; i < 2; i++ {
		n, err := r.Recv(buf)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q\n", buf[:n])
	}

	closeAndRemove(w, r)
	// Output:
	// "job 1"
	// "job 2"
}

// A work queue: one writer, several readers (normally each in a worker
// process of its own); each message goes to one of them.
func ExampleQueue() {
	addr := exampleAddr("chan-queue")
	w, err := shmlink.CreateWriter(addr, 1<<16, shmlink.Readers(4), shmlink.Queue())
	if err != nil {
		log.Fatal(err)
	}
	r1, err := shmlink.OpenReader(addr) // a worker
	if err != nil {
		log.Fatal(err)
	}
	r2, err := shmlink.OpenReader(addr) // another worker
	if err != nil {
		log.Fatal(err)
	}
	for _, job := range []string{"job 1", "job 2"} {
		if err := w.Send([]byte(job)); err != nil {
			log.Fatal(err)
		}
	}
	buf := make([]byte, r1.MaxMessage())
	n, err := r1.Recv(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("worker 1: %s\n", buf[:n])
	n, err = r2.Recv(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("worker 2: %s\n", buf[:n])
	if err := r2.Close(); err != nil {
		log.Fatal(err)
	}
	closeAndRemove(w, r1)
	// Output:
	// worker 1: job 1
	// worker 2: job 2
}
