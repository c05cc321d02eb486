"""python -m services.billing"""

from quarry_runtime.service import main
from services.billing.bootstrap import BillingSettings, build

if __name__ == "__main__":
    main(build, BillingSettings())
