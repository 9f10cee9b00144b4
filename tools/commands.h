// Subcommands of the sam3rt CLI. Each registers itself on the CLI11 app; its callback
// throws sam3rt::Error on failure, which main() reports on one stderr line.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace sam3rt::cli {

void add_info_command(CLI::App& app, int& exit_code);
void add_verify_command(CLI::App& app, int& exit_code);
void add_precision_gate_command(CLI::App& app, int& exit_code);
void add_make_random_checkpoint_command(CLI::App& app, int& exit_code);
void add_segment_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_track_command(CLI::App& app, int& exit_code);

}  // namespace sam3rt::cli
