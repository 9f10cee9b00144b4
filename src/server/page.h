// The web page `sam3rt serve` answers at "/": plain HTML, CSS and JavaScript in one
// document, embedded in the binary (no build step, no external resources). It uploads
// an image, sends clicks (point; shift = negative), drags (box) and text to the JSON API,
// draws the returned COCO RLE masks as overlays with scores, lets the user choose among
// object mode's candidates, and downloads the composite PNG and the JSON result.
#pragma once

#include <string_view>

namespace sam3rt::server {

std::string_view index_html();

}  // namespace sam3rt::server
