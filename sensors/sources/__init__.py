"""I/O only: file readers, dataset loaders and the sample/result model they return."""

from sensors.sources.base import LoadResult, Sample, Skipped
from sensors.sources.ceiling_fan import load_ceiling_fan
from sensors.sources.coswara import load_coswara
from sensors.sources.covid_cough import load_covid_cough
from sensors.sources.cwru import load_cwru
from sensors.sources.folder import load_folder
from sensors.sources.join import join_by_key
from sensors.sources.readers import (
    read_audio,
    read_csv_matrix,
    read_image,
    read_mat,
    resample,
)
from sensors.sources.registry import LOADERS, detect_dataset, load_dataset
from sensors.sources.thermal_d6t import load_thermal_d6t
from sensors.sources.urfd import load_urfd

__all__ = [
    "LOADERS",
    "LoadResult",
    "Sample",
    "Skipped",
    "detect_dataset",
    "join_by_key",
    "load_ceiling_fan",
    "load_coswara",
    "load_covid_cough",
    "load_cwru",
    "load_dataset",
    "load_folder",
    "load_thermal_d6t",
    "load_urfd",
    "read_audio",
    "read_csv_matrix",
    "read_image",
    "read_mat",
    "resample",
]
