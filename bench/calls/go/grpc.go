package main

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// echoMethod is served by bench/calls/servers.py (a generic handler, no
// protobuf): the request bytes come back as the response.
const echoMethod = "/shmlink.bench.Echo/Call"

// rawCodec puts a []byte on the wire as it is and reads the reply into
// the caller's buffer: gRPC without its protobuf encoding, which favours
// gRPC in this comparison.
type rawCodec struct{}

// reply is what Unmarshal fills: the caller's buffer and the length read.
type reply struct {
	buf []byte
	n   int
}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	r, ok := v.(*reply)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	if len(data) > len(r.buf) {
		return fmt.Errorf("response of %d bytes does not fit the %d-byte buffer", len(data), len(r.buf))
	}
	r.n = copy(r.buf, data)
	return nil
}

func (rawCodec) Name() string { return "raw" }

type grpcTransport struct{ cc *grpc.ClientConn }

func openGRPC(path string) (*grpcTransport, error) {
	cc, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return nil, err
	}
	return &grpcTransport{cc: cc}, nil
}

func (t *grpcTransport) newCaller() (caller, error) { return t, nil }

func (t *grpcTransport) close() error { return t.cc.Close() }

func (t *grpcTransport) call(ctx context.Context, req, resp []byte) (int, error) {
	r := reply{buf: resp}
	if err := t.cc.Invoke(ctx, echoMethod, req, &r); err != nil {
		return 0, err
	}
	return r.n, nil
}
