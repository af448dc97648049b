package testenv

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// greeter is a real gRPC server whose UnaryCall answers with its name.
type greeter struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (g *greeter) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{ServerId: g.name}, nil
}

// StartGreeter serves grpc.testing.TestService on a loopback port until the
// test ends (with opts, e.g. grpc.Creds for mTLS); UnaryCall's ServerId is
// name. It returns the port.
func StartGreeter(t testing.TB, name string, opts ...grpc.ServerOption) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(g, &greeter{name: name})
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().(*net.TCPAddr).Port
}
