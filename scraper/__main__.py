from scraper.command import main

main()
