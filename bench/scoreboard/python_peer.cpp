// PyTorch from Python: bench/torch_peer.py in a child process, driven over two pipes with one
// JSON object per line each way (the script's docstring lists the requests). The child times
// its own calls with time.perf_counter, so the pipe's round trip is not in its numbers.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "torch_peer.h"

namespace scoreboard {

namespace {

class PythonPeer : public ReferencePeer {
 public:
  PythonPeer(const std::string& python, const std::string& script) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(to_child[0], STDIN_FILENO);
      dup2(from_child[1], STDOUT_FILENO);
      close(to_child[0]), close(to_child[1]), close(from_child[0]), close(from_child[1]);
      execl(python.c_str(), python.c_str(), script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_child[0]), close(from_child[1]);
    to_ = fdopen(to_child[1], "w");
    from_ = fdopen(from_child[0], "r");
    const nlohmann::json hello = request({{"op", "hello"}});
    description_ = "PyTorch " + hello.at("torch").get<std::string>() + " (Python " +
                   hello.at("python").get<std::string>() + ", separate process)";
  }
  ~PythonPeer() override {
    if (to_) {
      std::fputs("{\"op\": \"quit\"}\n", to_);
      std::fclose(to_);
    }
    if (from_) std::fclose(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }

  std::string name() const override { return "PyTorch"; }
  std::string description() const override { return description_; }
  void set_threads(int threads) override { request({{"op", "threads"}, {"n", threads}}); }
  bool prepare(const Case& c) override {
    request({{"op", "prepare"}, {"case", c.to_json()}});
    return true;
  }
  double time(int64_t calls) override {
    return request({{"op", "time"}, {"calls", calls}}).at("seconds");
  }
  double whole_run(const std::string& name, const nlohmann::json& arguments) override {
    nlohmann::json message = arguments;
    message["op"] = "run";
    message["name"] = name;
    return request(message).at("seconds");
  }

  // Through files: at the largest sizes the parameters are 100 MB of floats.
  Arrays reference(const Case& c, const Arrays& input) override {
    namespace fs = std::filesystem;
    const fs::path folder =
        fs::temp_directory_path() / ("ember_scoreboard_" + std::to_string(getpid()));
    fs::create_directories(folder);
    {
      nlohmann::json index = {{"case", c.to_json()}, {"tensors", nlohmann::json::array()}};
      std::ofstream data(folder / "input.bin", std::ios::binary);
      for (const auto& [name, array] : input) {
        index["tensors"].push_back({name, array.shape});
        data.write(reinterpret_cast<const char*>(array.values.data()),
                   std::streamsize(array.values.size() * sizeof(float)));
      }
      std::ofstream(folder / "input.json") << index.dump();
    }
    request({{"op", "reference"}, {"dir", folder.string()}});
    nlohmann::json index;
    std::ifstream(folder / "reference.json") >> index;
    std::ifstream data(folder / "reference.bin", std::ios::binary);
    Arrays out;
    for (const auto& entry : index.at("tensors")) {
      Array array;
      array.shape = entry.at(1).get<std::vector<int64_t>>();
      int64_t count = 1;
      for (int64_t d : array.shape) count *= d;
      array.values.resize(size_t(count));
      data.read(reinterpret_cast<char*>(array.values.data()),
                std::streamsize(count * sizeof(float)));
      out.push_back({entry.at(0).get<std::string>(), std::move(array)});
    }
    fs::remove_all(folder);
    return out;
  }

 private:
  nlohmann::json request(const nlohmann::json& message) {
    std::fputs((message.dump() + "\n").c_str(), to_);
    std::fflush(to_);
    std::string line;
    for (int ch; (ch = std::fgetc(from_)) != EOF && ch != '\n';) line += char(ch);
    if (line.empty())
      throw std::runtime_error("the Python peer exited (no reply to " + message.dump() + ")");
    nlohmann::json reply = nlohmann::json::parse(line);
    if (reply.contains("error"))
      throw std::runtime_error("the Python peer: " + reply.at("error").get<std::string>());
    return reply;
  }

  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  std::string description_;
};

}  // namespace

std::unique_ptr<ReferencePeer> make_python_peer(const std::string& python,
                                                const std::string& script,
                                                std::string& why_missing) {
  if (access(python.c_str(), X_OK) != 0) {
    why_missing = python + " not found";
    return nullptr;
  }
  if (access(script.c_str(), R_OK) != 0) {
    why_missing = script + " not found";
    return nullptr;
  }
  try {
    return std::make_unique<PythonPeer>(python, script);
  } catch (const std::exception& error) {
    why_missing = std::string(error.what()) + " (does `" + python +
                  " -c 'import torch'` work? "
                  "Debian: apt-get install python3-torch)";
    return nullptr;
  }
}

}  // namespace scoreboard
