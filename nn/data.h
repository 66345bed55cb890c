#pragma once
// Data loading (ember::data): datasets and batch loaders, CSV tables, train/test splits and
// feature standardisation. See docs/07-data.md.

#include <ember/nn/csv.h>
#include <ember/nn/dataset.h>
#include <ember/nn/scaler.h>
