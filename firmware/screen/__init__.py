"""The officer's in-car screen: a local web app served by the daemon (Starlette on uvicorn, Server-Sent
Events), shown full screen by Chromium in kiosk mode on the unit's touch display."""
