"""python -m services.policy"""

from quarry_runtime.service import main
from services.policy.bootstrap import PolicySettings, build

if __name__ == "__main__":
    main(build, PolicySettings())
