from admire.app.cli import main

main()
