from postcouple.cli import main

raise SystemExit(main())
