"""python -m services.reporter"""

from quarry_runtime.service import main
from services.reporter.bootstrap import ReporterSettings, build

if __name__ == "__main__":
    main(build, ReporterSettings())
