"""The ceiling for a Python endpoint here: a minimal Flask JSON endpoint, served by compare.py under
the same gunicorn settings as authserver (workers, worker class, threads, keep-alive, access log)."""
from flask import Flask
from flask import jsonify
from flask import request

app = Flask(__name__)


@app.post("/token")
def token():
    return jsonify({"ok": True, "grant_type": request.form.get("grant_type")})
