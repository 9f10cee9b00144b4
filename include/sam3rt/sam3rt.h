// Umbrella header of the sam3rt public API.
#pragma once

#include "sam3rt/error.h"
#include "sam3rt/image.h"
#include "sam3rt/model.h"
#include "sam3rt/options.h"
#include "sam3rt/render.h"
#include "sam3rt/track_writer.h"
#include "sam3rt/types.h"
#include "sam3rt/version.h"
#include "sam3rt/video.h"
