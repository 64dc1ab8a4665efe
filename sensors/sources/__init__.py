"""I/O only: file readers, dataset loaders and the sample/result model they return."""

from tinyfuse.sensors.sources.base import LoadResult, Sample, Skipped
from tinyfuse.sensors.sources.ceiling_fan import load_ceiling_fan
from tinyfuse.sensors.sources.coswara import load_coswara
from tinyfuse.sensors.sources.covid_cough import load_covid_cough
from tinyfuse.sensors.sources.cwru import load_cwru
from tinyfuse.sensors.sources.folder import load_folder
from tinyfuse.sensors.sources.join import join_by_key
from tinyfuse.sensors.sources.manifest import load_manifest
from tinyfuse.sensors.sources.readers import (
    read_audio,
    read_csv_columns,
    read_csv_matrix,
    read_image,
    read_mat,
    read_npz,
)
from tinyfuse.sensors.sources.registry import LOADERS, detect_dataset, load_dataset
from tinyfuse.sensors.sources.thermal_d6t import load_thermal_d6t
from tinyfuse.sensors.sources.urfd import load_urfd

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
    "load_manifest",
    "load_thermal_d6t",
    "load_urfd",
    "read_audio",
    "read_csv_columns",
    "read_csv_matrix",
    "read_npz",
    "read_image",
    "read_mat",
]
