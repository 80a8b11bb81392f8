import sys

from lib.book.cli import main

sys.exit(main())
