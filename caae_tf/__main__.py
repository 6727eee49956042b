import sys

from caae_tf.cli import main

sys.exit(main())
