"""python -m services.retriever"""

from quarry_runtime.service import main
from services.retriever.bootstrap import RetrieverSettings, build

if __name__ == "__main__":
    main(build, RetrieverSettings())
