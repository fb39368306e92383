"""The errors of QR campaigns and claims (each maps to a problem response through `LoyaltyError`)."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, LoyaltyError, NotFound


class QrMalformed(InvalidInput):
    code = "qr-malformed"
    title = "Not a QR code of this platform"


class QrForged(InvalidInput):
    code = "qr-forged"
    title = "The QR code's signature is invalid"


class QrExpired(LoyaltyError):
    status = 410
    code = "qr-expired"
    title = "The QR code has expired"


class QrUnknownCampaign(NotFound):
    code = "qr-unknown-campaign"
    title = "The QR code belongs to no known campaign"


class QrAlreadyClaimed(Conflict):
    code = "qr-already-claimed"
    title = "The QR code was already claimed"


class QrCampaignInactive(Conflict):
    code = "qr-campaign-inactive"
    title = "The QR campaign is not active"


class QrCampaignExhausted(QrCampaignInactive):
    code = "qr-campaign-exhausted"
    title = "The QR campaign reached its maximum number of claims"


class QrClaimEarnsNothing(Conflict):
    code = "claim-earns-nothing"
    title = "The claim would earn nothing; the code stays unclaimed"


class QrPromotionPaysNothing(InvalidInput):
    code = "qr-promotion-pays-nothing"
    title = "The promotion pays nothing for a QR claim"
