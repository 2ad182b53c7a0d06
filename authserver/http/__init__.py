"""What every request goes through, whatever it asks: the device it comes from (IP, User-Agent),
bounded and well-formed input, and the issuer as the one public origin."""
