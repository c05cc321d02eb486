"""python -m services.orchestrator"""

from quarry_runtime.service import main
from services.orchestrator.bootstrap import OrchestratorSettings, build

if __name__ == "__main__":
    main(build, OrchestratorSettings())
