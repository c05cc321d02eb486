"""python -m services.analyst"""

from quarry_runtime.service import main
from services.analyst.bootstrap import AnalystSettings, build

if __name__ == "__main__":
    main(build, AnalystSettings())
