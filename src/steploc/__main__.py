import sys

from steploc.cli import main

sys.exit(main())
