// A peer server of proto/grpcstream.proto written with gRPC C++'s
// synchronous API, default options, for bench/grpc_bench.sh.  Built only by
// the bench, against Debian's libgrpc++-dev:
//
//   peer-cpp --listen 127.0.0.1:PORT --log FILE
//
// It serves the semantics the bench exercises, as grpcstream does:
//  - LogWatcher/WatchLogs: the entries of FILE (one a line, "LEVEL message
//    words...": the level, one space, the message; blank lines and lines
//    without a space are not entries) as they are when the call starts,
//    read through an std::ifstream per call; filter (level equal, "" =
//    every level) and limit (0 = no limit).  follow is not implemented
//    (UNIMPLEMENTED).
//  - LogWatcher/Append: appends "LEVEL msg" to FILE, returns its position.
//  - Chat/BiDiChat: every message answered with "echo: " + text; OK at the
//    client's half-close.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "grpcstream.grpc.pb.h"

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;

namespace {

// Splits a log line into level and message; false for a line that is not
// an entry.
bool entry(const std::string &line, std::string *level, std::string *msg) {
  size_t sp = line.find(' ');
  if (sp == std::string::npos || sp == 0) return false;
  level->assign(line, 0, sp);
  msg->assign(line, sp + 1, std::string::npos);
  return true;
}

class LogWatcherImpl final : public LogWatcher::Service {
 public:
  explicit LogWatcherImpl(std::string path) : path_(std::move(path)) {}

  Status WatchLogs(ServerContext *, const WatchRequest *req,
                   grpc::ServerWriter<LogEntry> *writer) override {
    if (req->follow())
      return Status(StatusCode::UNIMPLEMENTED,
                    "follow is not implemented by this peer");
    std::ifstream in(path_);
    if (!in) return Status(StatusCode::UNAVAILABLE, "cannot open the log");
    std::string line, level, msg;
    LogEntry e;
    uint64_t sent = 0;
    while (std::getline(in, line)) {
      if (!entry(line, &level, &msg)) continue;
      if (!req->filter().empty() && level != req->filter()) continue;
      e.set_level(level);
      e.set_msg(msg);
      if (!writer->Write(e)) return Status(StatusCode::CANCELLED, "cancelled");
      if (req->limit() != 0 && ++sent >= req->limit()) break;
    }
    return Status::OK;
  }

  Status Append(ServerContext *, const LogEntry *e,
                AppendResponse *resp) override {
    if (e->level().empty() ||
        e->level().find_first_of(" \r\n") != std::string::npos ||
        e->msg().find_first_of("\r\n") != std::string::npos)
      return Status(StatusCode::INVALID_ARGUMENT,
                    "this peer writes only LEVEL msg lines");
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    {
      std::ifstream in(path_);
      std::string line, level, msg;
      while (std::getline(in, line))
        if (entry(line, &level, &msg)) n++;
    }
    std::ofstream out(path_, std::ios::app);
    out << e->level() << ' ' << e->msg() << '\n';
    out.flush();
    if (!out) return Status(StatusCode::UNAVAILABLE, "cannot write the log");
    resp->set_seq(n + 1);
    return Status::OK;
  }

 private:
  std::string path_;
  std::mutex mu_;
};

class ChatImpl final : public Chat::Service {
 public:
  Status BiDiChat(
      ServerContext *,
      grpc::ServerReaderWriter<ChatMessage, ChatMessage> *stream) override {
    ChatMessage in, out;
    while (stream->Read(&in)) {
      out.set_text("echo: " + in.text());
      if (!stream->Write(out)) break;
    }
    return Status::OK;
  }
};

}  // namespace

int main(int argc, char **argv) {
  std::string listen = "127.0.0.1:50051", log;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--listen") && i + 1 < argc)
      listen = argv[++i];
    else if (!strcmp(argv[i], "--log") && i + 1 < argc)
      log = argv[++i];
    else
      log.clear(), i = argc;
  }
  if (log.empty()) {
    std::cerr << "usage: peer-cpp --listen HOST:PORT --log FILE\n";
    return 2;
  }
  LogWatcherImpl watcher(log);
  ChatImpl chat;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials());
  builder.RegisterService(&watcher);
  builder.RegisterService(&chat);
  std::unique_ptr<grpc::Server> server(builder.BuildAndStart());
  if (!server) {
    std::cerr << "peer-cpp: cannot listen on " << listen << "\n";
    return 1;
  }
  server->Wait();
  return 0;
}
