"""REST handlers, one module per resource group; ``bot.devtools.emulator.rest`` routes requests to them."""
