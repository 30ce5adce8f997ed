// A peer server of proto/grpcstream.proto written with grpc-go, default
// options, for bench/grpc_bench.sh.  Built only by the bench (GOPATH mode,
// against Debian's Go packages):
//
//	peer-go --listen 127.0.0.1:PORT --log FILE
//
// It serves the semantics the bench exercises, as grpcstream does:
//   - LogWatcher/WatchLogs: the entries of FILE (one a line, "LEVEL message
//     words...": the level, one space, the message; blank lines and lines
//     without a space are not entries) as they are when the call starts,
//     read through a buffered reader per call; filter (level equal, "" =
//     every level) and limit (0 = no limit).  follow is not implemented
//     (UNIMPLEMENTED).
//   - LogWatcher/Append: appends "LEVEL msg" to FILE, returns its position.
//   - Chat/BiDiChat: every message answered with "echo: " + text; OK at
//     the client's half-close.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "grpcstream/pb"
)

type logWatcher struct {
	pb.UnimplementedLogWatcherServer
	path string
	mu   sync.Mutex // serialises Appends
}

// entry splits a log line into level and message; ok is false for a line
// that is not an entry.
func entry(line string) (level, msg string, ok bool) {
	i := strings.IndexByte(line, ' ')
	if i <= 0 {
		return "", "", false
	}
	return line[:i], line[i+1:], true
}

func (s *logWatcher) WatchLogs(req *pb.WatchRequest, stream pb.LogWatcher_WatchLogsServer) error {
	if req.Follow {
		return status.Error(codes.Unimplemented, "follow is not implemented by this peer")
	}
	f, err := os.Open(s.path)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var sent uint64
	for sc.Scan() {
		level, msg, ok := entry(sc.Text())
		if !ok || (req.Filter != "" && level != req.Filter) {
			continue
		}
		if err := stream.Send(&pb.LogEntry{Level: level, Msg: msg}); err != nil {
			return err
		}
		sent++
		if req.Limit != 0 && sent >= req.Limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return nil
}

func (s *logWatcher) Append(ctx context.Context, e *pb.LogEntry) (*pb.AppendResponse, error) {
	if e.Level == "" || strings.ContainsAny(e.Level, " \r\n") || strings.ContainsAny(e.Msg, "\r\n") {
		return nil, status.Error(codes.InvalidArgument, "this peer writes only LEVEL msg lines")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	defer f.Close()
	var n uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if _, _, ok := entry(sc.Text()); ok {
			n++
		}
	}
	if _, err := f.WriteString(e.Level + " " + e.Msg + "\n"); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &pb.AppendResponse{Seq: n + 1}, nil
}

type chat struct {
	pb.UnimplementedChatServer
}

func (chat) BiDiChat(stream pb.Chat_BiDiChatServer) error {
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.ChatMessage{Text: "echo: " + m.Text}); err != nil {
			return err
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:50051", "HOST:PORT to listen on")
	logPath := flag.String("log", "", "the log file (required)")
	flag.Parse()
	if *logPath == "" {
		fmt.Fprintln(os.Stderr, "usage: peer-go --listen HOST:PORT --log FILE")
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	pb.RegisterLogWatcherServer(s, &logWatcher{path: *logPath})
	pb.RegisterChatServer(s, chat{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		s.Stop()
	}()
	if err := s.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
