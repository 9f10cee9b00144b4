// sam3rt info MODEL_DIR: what a model folder holds and whether it matches its config.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "developer.h"

namespace sam3rt::cli {

void add_info_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("info", "Describe a model folder (config.json + model.safetensors)");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("MODEL_DIR", *dir, "folder with config.json and model.safetensors")->required();
  cmd->callback([&exit_code, dir] {
    const developer::ModelReport r = developer::describe_model(*dir);
    std::fputs(r.text.c_str(), stdout);
    if (!r.problems.empty()) {
      std::fflush(stdout);
      std::fprintf(stderr, "sam3rt: error: %s: checkpoint does not match the config (%zu key problems)\n",
                   r.weights_path.c_str(), r.problems.size());
      exit_code = 1;
    }
  });
}

}  // namespace sam3rt::cli
