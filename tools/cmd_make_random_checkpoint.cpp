// sam3rt make-random-checkpoint --config C --out DIR: a random-weight model folder.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "developer.h"

namespace sam3rt::cli {

void add_make_random_checkpoint_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("make-random-checkpoint",
                                 "Write a random-weight checkpoint (real key names and shapes) for a config.json");
  auto config = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto options = std::make_shared<developer::RandomCheckpointOptions>();
  cmd->add_option("--config", *config, "config.json of a sam3, sam3_tracker, sam3_video, sam2 or sam2_video model")->required();
  cmd->add_option("--out", *out, "output folder (config.json + model.safetensors)")->required();
  cmd->add_option("--seed", options->seed, "random seed");
  cmd->add_flag("--half", options->half, "store weights as float16 (half the size; loaded as float32)");
  cmd->callback([&exit_code, config, out, options] {
    developer::make_random_checkpoint(*config, *out, *options);
    std::printf("wrote %s/model.safetensors and %s/config.json (random weights, seed %llu): masks from it are "
                "meaningless\n",
                out->c_str(), out->c_str(), static_cast<unsigned long long>(options->seed));
    exit_code = 0;
  });
}

}  // namespace sam3rt::cli
