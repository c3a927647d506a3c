# ruff: noqa: RUF001  (Japanese uses full-width punctuation on purpose)
"""The words of every lifecycle email in each supported language (``domain.locales``).

Keys are ``EmailTemplate`` values. Bodies start after the salutation, which the renderer
adds. Every language uses the same placeholders as English; phrases fill the optional
lines (``{amount_line}``, ``{retry_line}``...) in the same language.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageTexts:
    # template value -> (subject, body without the salutation)
    templates: dict[str, tuple[str, str]]
    phrases: dict[str, str]


EN = LanguageTexts(
    templates={
        "welcome": (
            "Welcome to {product}, your free trial has started",
            "Your {trial_days}-day free trial of {product} is ready. No card needed: build "
            "your first chatbot today.\n\nYour trial ends on {trial_ends_on}.",
        ),
        "trial_reminder": (
            "{days_left} day(s) left in your {product} trial",
            "Your {product} trial ends on {trial_ends_on} ({days_left} day(s) left). Pick a "
            "plan to keep your chatbots running without interruption.",
        ),
        "trial_expired": (
            "Your {product} trial has ended",
            "Your free trial ended on {trial_ends_on}. Your chatbots and data are safe: "
            "choose a plan to bring them back online.",
        ),
        "trial_winback": (
            "Your chatbots are waiting for you",
            "It has been {days_since_expiry} day(s) since your {product} trial ended. "
            "Everything you built is still here: pick a plan to continue.{offer_line}",
        ),
        "trial_converted": (
            "Welcome to {product} {plan_name}",
            "Thanks for subscribing to {plan_name} ({interval_label} billing). We charged "
            "{amount_display} today; your next invoice is due on {period_end_on}.",
        ),
        "plan_changed": (
            "Your {product} plan is now {plan_name}",
            "Your plan changed from {previous_plan_name} to {plan_name} ({interval_label} "
            "billing), effective {effective_on}.{amount_line}",
        ),
        "subscription_canceled": (
            "Your {product} subscription is canceled",
            "Your {plan_name} subscription {cancel_line}. You can come back at any time; your "
            "chatbots and data stay with us.",
        ),
        "subscription_reactivated": (
            "Your {product} subscription continues",
            "Good news: your {plan_name} subscription will renew as usual on {period_end_on}.",
        ),
        "subscription_paused": (
            "Your {product} subscription is paused",
            "Your {plan_name} subscription is paused; you will not be charged while it is. "
            "{resume_line}",
        ),
        "subscription_resumed": (
            "Your {product} subscription is active again",
            "Your {plan_name} subscription is active again. Welcome back.",
        ),
        "payment_failed": (
            "Payment for {product} failed",
            "We could not charge your card for your {plan_name} subscription (attempt "
            "{attempt}). {retry_line} Your chatbots keep running meanwhile.\n\n"
            "Update your card: {app_url}/billing/payment-method",
        ),
        "payment_recovered": (
            "Payment received, thank you",
            "Your payment went through and your {plan_name} subscription is in good standing "
            "again.{amount_line}",
        ),
        "payment_action_required": (
            "Confirm your {product} payment",
            "Your bank asks you to confirm the payment of {amount_display} for your "
            "{plan_name} subscription. Confirm it here: {hosted_invoice_url}\n\n"
            "Your chatbots keep running meanwhile.",
        ),
        "checkout_payment_processing": (
            "Your {product} payment is on its way",
            "Thank you: your payment for the {plan_name} subscription has been submitted. "
            "Bank debits and boleto vouchers take a few business days to clear; your "
            "subscription starts as soon as the payment arrives, and we will email you then. "
            "Until then nothing changes in your account.",
        ),
        "checkout_payment_failed": (
            "Your {product} payment did not go through",
            "The payment for your {plan_name} subscription could not be completed, so the "
            "subscription did not start. Pick a plan again to retry: {app_url}/billing",
        ),
        "trial_extended": (
            "Your {product} trial has been extended",
            "Good news: we extended your free trial by {days} day(s). It now ends on "
            "{trial_ends_on}.",
        ),
        "usage_warning": (
            "You have used {percent}% of your {metric_name} this period",
            "Your {product} account has used {used} of {limit} {metric_name} this billing "
            "period.{upgrade_line}",
        ),
        "usage_limit_reached": (
            "You have reached your {metric_name} limit",
            "Your {product} account has used all {limit} {metric_name} of this billing "
            "period. A small grace allowance keeps your chatbots answering; after it, new "
            "{metric_name} are blocked until the next period.{upgrade_line}",
        ),
        "offer": (
            "An offer for you: {headline}",
            "Thanks for building with {product}. We have an offer for you: "
            "{headline}.{expires_line}\n\nTake it in one click: "
            "{app_url}/billing/offers/{offer_id}",
        ),
    },
    phrases={
        "salutation": "Hi {name},",
        "salutation_anonymous": "Hi there,",
        "interval_month": "monthly",
        "interval_year": "yearly",
        "amount_line": " We charged {amount_display}.",
        "cancel_on": "ends on {effective_on}",
        "cancel_period_end": "ends at the end of the period",
        "cancel_ended": "has ended",
        "resume_on": "It resumes on {resumes_on}.",
        "resume_any": "Resume it whenever you like.",
        "retry_on": "We will try again on {next_retry_on}.",
        "retry_last": "This was our last attempt.",
        "upgrade_line": "\n\nNeed more room? {upgrade_plan_name} fits how you are using "
        "{metric_name}.",
        "metric_fallback": "it",
        "expires_line": " It holds until {expires_on}.",
        "offer_line": "\n\nCome back now and get {offer}.",
    },
)

DE = LanguageTexts(
    templates={
        "welcome": (
            "Willkommen bei {product}, Ihre kostenlose Testphase hat begonnen",
            "Ihre {trial_days}-tägige kostenlose Testphase von {product} ist bereit. Keine "
            "Karte nötig: Erstellen Sie noch heute Ihren ersten Chatbot.\n\nIhre Testphase "
            "endet am {trial_ends_on}.",
        ),
        "trial_reminder": (
            "Noch {days_left} Tag(e) in Ihrer {product}-Testphase",
            "Ihre {product}-Testphase endet am {trial_ends_on} (noch {days_left} Tag(e)). "
            "Wählen Sie einen Tarif, damit Ihre Chatbots ohne Unterbrechung weiterlaufen.",
        ),
        "trial_expired": (
            "Ihre {product}-Testphase ist beendet",
            "Ihre kostenlose Testphase endete am {trial_ends_on}. Ihre Chatbots und Daten "
            "sind sicher: Wählen Sie einen Tarif, um sie wieder online zu bringen.",
        ),
        "trial_winback": (
            "Ihre Chatbots warten auf Sie",
            "Ihre {product}-Testphase ist seit {days_since_expiry} Tag(en) beendet. Alles, "
            "was Sie gebaut haben, ist noch da: Wählen Sie einen Tarif, um weiterzumachen."
            "{offer_line}",
        ),
        "trial_converted": (
            "Willkommen bei {product} {plan_name}",
            "Danke für Ihr Abonnement von {plan_name} ({interval_label} Abrechnung). Wir "
            "haben heute {amount_display} berechnet; Ihre nächste Rechnung ist am "
            "{period_end_on} fällig.",
        ),
        "plan_changed": (
            "Ihr {product}-Tarif ist jetzt {plan_name}",
            "Ihr Tarif wurde von {previous_plan_name} auf {plan_name} geändert "
            "({interval_label} Abrechnung), gültig ab {effective_on}.{amount_line}",
        ),
        "subscription_canceled": (
            "Ihr {product}-Abonnement ist gekündigt",
            "Ihr {plan_name}-Abonnement {cancel_line}. Sie können jederzeit zurückkommen; "
            "Ihre Chatbots und Daten bleiben bei uns.",
        ),
        "subscription_reactivated": (
            "Ihr {product}-Abonnement läuft weiter",
            "Gute Nachricht: Ihr {plan_name}-Abonnement verlängert sich wie gewohnt am "
            "{period_end_on}.",
        ),
        "subscription_paused": (
            "Ihr {product}-Abonnement ist pausiert",
            "Ihr {plan_name}-Abonnement ist pausiert; solange es pausiert ist, berechnen wir "
            "Ihnen nichts. {resume_line}",
        ),
        "subscription_resumed": (
            "Ihr {product}-Abonnement ist wieder aktiv",
            "Ihr {plan_name}-Abonnement ist wieder aktiv. Willkommen zurück.",
        ),
        "payment_failed": (
            "Zahlung für {product} fehlgeschlagen",
            "Wir konnten Ihre Karte für Ihr {plan_name}-Abonnement nicht belasten (Versuch "
            "{attempt}). {retry_line} Ihre Chatbots laufen in der Zwischenzeit weiter.\n\n"
            "Karte aktualisieren: {app_url}/billing/payment-method",
        ),
        "payment_recovered": (
            "Zahlung erhalten, vielen Dank",
            "Ihre Zahlung ist eingegangen und Ihr {plan_name}-Abonnement ist wieder in "
            "Ordnung.{amount_line}",
        ),
        "payment_action_required": (
            "Bestätigen Sie Ihre {product}-Zahlung",
            "Ihre Bank bittet Sie, die Zahlung von {amount_display} für Ihr "
            "{plan_name}-Abonnement zu bestätigen. Hier bestätigen: {hosted_invoice_url}\n\n"
            "Ihre Chatbots laufen in der Zwischenzeit weiter.",
        ),
        "checkout_payment_processing": (
            "Ihre {product}-Zahlung ist unterwegs",
            "Vielen Dank: Ihre Zahlung für das {plan_name}-Abonnement wurde übermittelt. "
            "Lastschriften und Boleto-Zahlungen brauchen einige Werktage; Ihr Abonnement "
            "beginnt, sobald die Zahlung eingegangen ist, und wir schreiben Ihnen dann. Bis "
            "dahin ändert sich an Ihrem Konto nichts.",
        ),
        "checkout_payment_failed": (
            "Ihre {product}-Zahlung ist nicht durchgegangen",
            "Die Zahlung für Ihr {plan_name}-Abonnement konnte nicht abgeschlossen werden, "
            "daher wurde das Abonnement nicht gestartet. Wählen Sie erneut einen Tarif, um "
            "es noch einmal zu versuchen: {app_url}/billing",
        ),
        "trial_extended": (
            "Ihre {product}-Testphase wurde verlängert",
            "Gute Nachricht: Wir haben Ihre kostenlose Testphase um {days} Tag(e) "
            "verlängert. Sie endet jetzt am {trial_ends_on}.",
        ),
        "usage_warning": (
            "Sie haben {percent} % Ihrer {metric_name} in diesem Zeitraum verbraucht",
            "Ihr {product}-Konto hat in diesem Abrechnungszeitraum {used} von {limit} "
            "{metric_name} verbraucht.{upgrade_line}",
        ),
        "usage_limit_reached": (
            "Sie haben Ihr Limit für {metric_name} erreicht",
            "Ihr {product}-Konto hat alle {limit} {metric_name} dieses "
            "Abrechnungszeitraums verbraucht. Ein kleines Kulanzkontingent hält Ihre "
            "Chatbots am Antworten; danach werden neue {metric_name} bis zum nächsten "
            "Zeitraum blockiert.{upgrade_line}",
        ),
        "offer": (
            "Ein Angebot für Sie: {headline}",
            "Danke, dass Sie mit {product} bauen. Wir haben ein Angebot für Sie: "
            "{headline}.{expires_line}\n\nMit einem Klick annehmen: "
            "{app_url}/billing/offers/{offer_id}",
        ),
    },
    phrases={
        "salutation": "Hallo {name},",
        "salutation_anonymous": "Hallo,",
        "interval_month": "monatliche",
        "interval_year": "jährliche",
        "amount_line": " Wir haben {amount_display} berechnet.",
        "cancel_on": "endet am {effective_on}",
        "cancel_period_end": "endet zum Ende des Abrechnungszeitraums",
        "cancel_ended": "ist beendet",
        "resume_on": "Es wird am {resumes_on} fortgesetzt.",
        "resume_any": "Setzen Sie es fort, wann immer Sie möchten.",
        "retry_on": "Wir versuchen es am {next_retry_on} erneut.",
        "retry_last": "Das war unser letzter Versuch.",
        "upgrade_line": "\n\nMehr Spielraum nötig? {upgrade_plan_name} passt zu Ihrer "
        "Nutzung von {metric_name}.",
        "metric_fallback": "Kontingent",
        "expires_line": " Es gilt bis zum {expires_on}.",
        "offer_line": "\n\nKommen Sie jetzt zurück und erhalten Sie {offer}.",
    },
)

FR = LanguageTexts(
    templates={
        "welcome": (
            "Bienvenue sur {product}, votre essai gratuit a commencé",
            "Votre essai gratuit de {trial_days} jours de {product} est prêt. Aucune carte "
            "requise : créez votre premier chatbot dès aujourd'hui.\n\nVotre essai se "
            "termine le {trial_ends_on}.",
        ),
        "trial_reminder": (
            "Plus que {days_left} jour(s) d'essai sur {product}",
            "Votre essai de {product} se termine le {trial_ends_on} (encore {days_left} "
            "jour(s)). Choisissez une offre pour que vos chatbots continuent de fonctionner "
            "sans interruption.",
        ),
        "trial_expired": (
            "Votre essai de {product} est terminé",
            "Votre essai gratuit s'est terminé le {trial_ends_on}. Vos chatbots et vos "
            "données sont en sécurité : choisissez une offre pour les remettre en ligne.",
        ),
        "trial_winback": (
            "Vos chatbots vous attendent",
            "Votre essai de {product} s'est terminé il y a {days_since_expiry} jour(s). Tout "
            "ce que vous avez créé est toujours là : choisissez une offre pour continuer."
            "{offer_line}",
        ),
        "trial_converted": (
            "Bienvenue dans {product} {plan_name}",
            "Merci de vous être abonné à {plan_name} (facturation {interval_label}). Nous "
            "avons prélevé {amount_display} aujourd'hui ; votre prochaine facture est due le "
            "{period_end_on}.",
        ),
        "plan_changed": (
            "Votre offre {product} est désormais {plan_name}",
            "Votre offre est passée de {previous_plan_name} à {plan_name} (facturation "
            "{interval_label}), à compter du {effective_on}.{amount_line}",
        ),
        "subscription_canceled": (
            "Votre abonnement {product} est résilié",
            "Votre abonnement {plan_name} {cancel_line}. Vous pouvez revenir à tout "
            "moment ; vos chatbots et vos données restent chez nous.",
        ),
        "subscription_reactivated": (
            "Votre abonnement {product} continue",
            "Bonne nouvelle : votre abonnement {plan_name} sera renouvelé normalement le "
            "{period_end_on}.",
        ),
        "subscription_paused": (
            "Votre abonnement {product} est en pause",
            "Votre abonnement {plan_name} est en pause ; rien ne vous sera facturé pendant "
            "la pause. {resume_line}",
        ),
        "subscription_resumed": (
            "Votre abonnement {product} est de nouveau actif",
            "Votre abonnement {plan_name} est de nouveau actif. Bon retour parmi nous.",
        ),
        "payment_failed": (
            "Échec du paiement pour {product}",
            "Nous n'avons pas pu débiter votre carte pour votre abonnement {plan_name} "
            "(tentative {attempt}). {retry_line} Vos chatbots continuent de fonctionner en "
            "attendant.\n\nMettez à jour votre carte : {app_url}/billing/payment-method",
        ),
        "payment_recovered": (
            "Paiement reçu, merci",
            "Votre paiement a été accepté et votre abonnement {plan_name} est de nouveau en "
            "règle.{amount_line}",
        ),
        "payment_action_required": (
            "Confirmez votre paiement {product}",
            "Votre banque vous demande de confirmer le paiement de {amount_display} pour "
            "votre abonnement {plan_name}. Confirmez-le ici : {hosted_invoice_url}\n\n"
            "Vos chatbots continuent de fonctionner en attendant.",
        ),
        "checkout_payment_processing": (
            "Votre paiement {product} est en cours",
            "Merci : votre paiement pour l'abonnement {plan_name} a bien été transmis. Les "
            "prélèvements et les boletos prennent quelques jours ouvrés ; votre abonnement "
            "démarre dès réception du paiement, et nous vous écrirons alors. D'ici là, rien "
            "ne change sur votre compte.",
        ),
        "checkout_payment_failed": (
            "Votre paiement {product} n'a pas abouti",
            "Le paiement de votre abonnement {plan_name} n'a pas pu être finalisé, "
            "l'abonnement n'a donc pas démarré. Choisissez à nouveau une offre pour "
            "réessayer : {app_url}/billing",
        ),
        "trial_extended": (
            "Votre essai de {product} a été prolongé",
            "Bonne nouvelle : nous avons prolongé votre essai gratuit de {days} jour(s). Il "
            "se termine désormais le {trial_ends_on}.",
        ),
        "usage_warning": (
            "Vous avez utilisé {percent} % de vos {metric_name} sur cette période",
            "Votre compte {product} a utilisé {used} {metric_name} sur {limit} pendant "
            "cette période de facturation.{upgrade_line}",
        ),
        "usage_limit_reached": (
            "Vous avez atteint votre limite de {metric_name}",
            "Votre compte {product} a utilisé la totalité des {limit} {metric_name} de "
            "cette période de facturation. Une petite marge de tolérance permet à vos "
            "chatbots de continuer à répondre ; au-delà, les nouveaux {metric_name} sont "
            "bloqués jusqu'à la prochaine période.{upgrade_line}",
        ),
        "offer": (
            "Une offre pour vous : {headline}",
            "Merci de créer avec {product}. Nous avons une offre pour vous : "
            "{headline}.{expires_line}\n\nProfitez-en en un clic : "
            "{app_url}/billing/offers/{offer_id}",
        ),
    },
    phrases={
        "salutation": "Bonjour {name},",
        "salutation_anonymous": "Bonjour,",
        "interval_month": "mensuelle",
        "interval_year": "annuelle",
        "amount_line": " Nous avons prélevé {amount_display}.",
        "cancel_on": "prend fin le {effective_on}",
        "cancel_period_end": "prend fin à la fin de la période",
        "cancel_ended": "est terminé",
        "resume_on": "Il reprendra le {resumes_on}.",
        "resume_any": "Reprenez-le quand vous voulez.",
        "retry_on": "Nous réessaierons le {next_retry_on}.",
        "retry_last": "C'était notre dernière tentative.",
        "upgrade_line": "\n\nBesoin de plus de marge ? {upgrade_plan_name} correspond à "
        "votre utilisation des {metric_name}.",
        "metric_fallback": "ressources",
        "expires_line": " Elle est valable jusqu'au {expires_on}.",
        "offer_line": "\n\nRevenez maintenant et profitez de {offer}.",
    },
)

ES = LanguageTexts(
    templates={
        "welcome": (
            "Te damos la bienvenida a {product}: tu prueba gratuita ha comenzado",
            "Tu prueba gratuita de {trial_days} días de {product} está lista. No necesitas "
            "tarjeta: crea hoy tu primer chatbot.\n\nTu prueba termina el {trial_ends_on}.",
        ),
        "trial_reminder": (
            "Quedan {days_left} día(s) de tu prueba de {product}",
            "Tu prueba de {product} termina el {trial_ends_on} (quedan {days_left} día(s)). "
            "Elige un plan para que tus chatbots sigan funcionando sin interrupciones.",
        ),
        "trial_expired": (
            "Tu prueba de {product} ha terminado",
            "Tu prueba gratuita terminó el {trial_ends_on}. Tus chatbots y tus datos están a "
            "salvo: elige un plan para volver a ponerlos en línea.",
        ),
        "trial_winback": (
            "Tus chatbots te están esperando",
            "Han pasado {days_since_expiry} día(s) desde que terminó tu prueba de {product}. "
            "Todo lo que creaste sigue aquí: elige un plan para continuar.{offer_line}",
        ),
        "trial_converted": (
            "Te damos la bienvenida a {product} {plan_name}",
            "Gracias por suscribirte a {plan_name} (facturación {interval_label}). Hoy te "
            "cobramos {amount_display}; tu próxima factura vence el {period_end_on}.",
        ),
        "plan_changed": (
            "Tu plan de {product} ahora es {plan_name}",
            "Tu plan cambió de {previous_plan_name} a {plan_name} (facturación "
            "{interval_label}), a partir del {effective_on}.{amount_line}",
        ),
        "subscription_canceled": (
            "Tu suscripción a {product} está cancelada",
            "Tu suscripción a {plan_name} {cancel_line}. Puedes volver cuando quieras; tus "
            "chatbots y tus datos se quedan con nosotros.",
        ),
        "subscription_reactivated": (
            "Tu suscripción a {product} continúa",
            "Buenas noticias: tu suscripción a {plan_name} se renovará con normalidad el "
            "{period_end_on}.",
        ),
        "subscription_paused": (
            "Tu suscripción a {product} está en pausa",
            "Tu suscripción a {plan_name} está en pausa; no te cobraremos nada mientras lo "
            "esté. {resume_line}",
        ),
        "subscription_resumed": (
            "Tu suscripción a {product} vuelve a estar activa",
            "Tu suscripción a {plan_name} vuelve a estar activa. Qué bueno tenerte de vuelta.",
        ),
        "payment_failed": (
            "El pago de {product} ha fallado",
            "No pudimos cobrar en tu tarjeta la suscripción a {plan_name} (intento "
            "{attempt}). {retry_line} Mientras tanto, tus chatbots siguen funcionando.\n\n"
            "Actualiza tu tarjeta: {app_url}/billing/payment-method",
        ),
        "payment_recovered": (
            "Pago recibido, gracias",
            "Tu pago se ha completado y tu suscripción a {plan_name} vuelve a estar al día."
            "{amount_line}",
        ),
        "payment_action_required": (
            "Confirma tu pago de {product}",
            "Tu banco te pide que confirmes el pago de {amount_display} de tu suscripción a "
            "{plan_name}. Confírmalo aquí: {hosted_invoice_url}\n\n"
            "Mientras tanto, tus chatbots siguen funcionando.",
        ),
        "checkout_payment_processing": (
            "Tu pago de {product} está en camino",
            "Gracias: se ha enviado tu pago de la suscripción a {plan_name}. Los adeudos "
            "bancarios y los boletos tardan unos días hábiles; tu suscripción empieza en "
            "cuanto llegue el pago y te escribiremos entonces. Hasta entonces no cambia nada "
            "en tu cuenta.",
        ),
        "checkout_payment_failed": (
            "Tu pago de {product} no se completó",
            "No se pudo completar el pago de tu suscripción a {plan_name}, así que la "
            "suscripción no se inició. Elige un plan de nuevo para reintentarlo: "
            "{app_url}/billing",
        ),
        "trial_extended": (
            "Hemos ampliado tu prueba de {product}",
            "Buenas noticias: hemos ampliado tu prueba gratuita {days} día(s). Ahora termina "
            "el {trial_ends_on}.",
        ),
        "usage_warning": (
            "Has usado el {percent} % de tus {metric_name} en este periodo",
            "Tu cuenta de {product} ha usado {used} de {limit} {metric_name} en este periodo "
            "de facturación.{upgrade_line}",
        ),
        "usage_limit_reached": (
            "Has alcanzado tu límite de {metric_name}",
            "Tu cuenta de {product} ha usado los {limit} {metric_name} de este periodo de "
            "facturación. Un pequeño margen de cortesía mantiene a tus chatbots "
            "respondiendo; después, los nuevos {metric_name} se bloquean hasta el próximo "
            "periodo.{upgrade_line}",
        ),
        "offer": (
            "Una oferta para ti: {headline}",
            "Gracias por crear con {product}. Tenemos una oferta para ti: "
            "{headline}.{expires_line}\n\nAprovéchala con un clic: "
            "{app_url}/billing/offers/{offer_id}",
        ),
    },
    phrases={
        "salutation": "Hola, {name}:",
        "salutation_anonymous": "Hola:",
        "interval_month": "mensual",
        "interval_year": "anual",
        "amount_line": " Te cobramos {amount_display}.",
        "cancel_on": "termina el {effective_on}",
        "cancel_period_end": "termina al final del periodo",
        "cancel_ended": "ha terminado",
        "resume_on": "Se reanudará el {resumes_on}.",
        "resume_any": "Reanúdala cuando quieras.",
        "retry_on": "Lo volveremos a intentar el {next_retry_on}.",
        "retry_last": "Este fue nuestro último intento.",
        "upgrade_line": "\n\n¿Necesitas más margen? {upgrade_plan_name} se ajusta a tu uso "
        "de {metric_name}.",
        "metric_fallback": "recursos",
        "expires_line": " Es válida hasta el {expires_on}.",
        "offer_line": "\n\nVuelve ahora y obtén {offer}.",
    },
)

PT = LanguageTexts(
    templates={
        "welcome": (
            "Boas-vindas ao {product}: seu teste grátis começou",
            "Seu teste grátis de {trial_days} dias do {product} está pronto. Não precisa de "
            "cartão: crie seu primeiro chatbot hoje.\n\nSeu teste termina em {trial_ends_on}.",
        ),
        "trial_reminder": (
            "Faltam {days_left} dia(s) no seu teste do {product}",
            "Seu teste do {product} termina em {trial_ends_on} (faltam {days_left} dia(s)). "
            "Escolha um plano para manter seus chatbots funcionando sem interrupção.",
        ),
        "trial_expired": (
            "Seu teste do {product} terminou",
            "Seu teste grátis terminou em {trial_ends_on}. Seus chatbots e dados estão "
            "seguros: escolha um plano para colocá-los online de novo.",
        ),
        "trial_winback": (
            "Seus chatbots estão esperando por você",
            "Já se passaram {days_since_expiry} dia(s) desde o fim do seu teste do {product}. "
            "Tudo o que você criou continua aqui: escolha um plano para continuar."
            "{offer_line}",
        ),
        "trial_converted": (
            "Boas-vindas ao {product} {plan_name}",
            "Obrigado por assinar o {plan_name} (cobrança {interval_label}). Cobramos "
            "{amount_display} hoje; sua próxima fatura vence em {period_end_on}.",
        ),
        "plan_changed": (
            "Seu plano do {product} agora é {plan_name}",
            "Seu plano mudou de {previous_plan_name} para {plan_name} (cobrança "
            "{interval_label}), a partir de {effective_on}.{amount_line}",
        ),
        "subscription_canceled": (
            "Sua assinatura do {product} foi cancelada",
            "Sua assinatura do {plan_name} {cancel_line}. Você pode voltar quando quiser; "
            "seus chatbots e dados continuam conosco.",
        ),
        "subscription_reactivated": (
            "Sua assinatura do {product} continua",
            "Boa notícia: sua assinatura do {plan_name} será renovada normalmente em "
            "{period_end_on}.",
        ),
        "subscription_paused": (
            "Sua assinatura do {product} está pausada",
            "Sua assinatura do {plan_name} está pausada; nada será cobrado enquanto ela "
            "estiver pausada. {resume_line}",
        ),
        "subscription_resumed": (
            "Sua assinatura do {product} está ativa novamente",
            "Sua assinatura do {plan_name} está ativa novamente. Que bom ter você de volta.",
        ),
        "payment_failed": (
            "Falha no pagamento do {product}",
            "Não conseguimos cobrar seu cartão pela assinatura do {plan_name} (tentativa "
            "{attempt}). {retry_line} Enquanto isso, seus chatbots continuam funcionando."
            "\n\nAtualize seu cartão: {app_url}/billing/payment-method",
        ),
        "payment_recovered": (
            "Pagamento recebido, obrigado",
            "Seu pagamento foi aprovado e sua assinatura do {plan_name} está em dia "
            "novamente.{amount_line}",
        ),
        "payment_action_required": (
            "Confirme seu pagamento do {product}",
            "Seu banco pede que você confirme o pagamento de {amount_display} da sua "
            "assinatura do {plan_name}. Confirme aqui: {hosted_invoice_url}\n\n"
            "Enquanto isso, seus chatbots continuam funcionando.",
        ),
        "checkout_payment_processing": (
            "Seu pagamento do {product} está a caminho",
            "Obrigado: seu pagamento da assinatura do {plan_name} foi enviado. Débitos "
            "bancários e boletos levam alguns dias úteis para compensar; sua assinatura "
            "começa assim que o pagamento for confirmado, e avisaremos você por e-mail. Até "
            "lá, nada muda na sua conta.",
        ),
        "checkout_payment_failed": (
            "Seu pagamento do {product} não foi concluído",
            "Não foi possível concluir o pagamento da sua assinatura do {plan_name}, então a "
            "assinatura não começou. Escolha um plano novamente para tentar de novo: "
            "{app_url}/billing",
        ),
        "trial_extended": (
            "Seu teste do {product} foi estendido",
            "Boa notícia: estendemos seu teste grátis em {days} dia(s). Agora ele termina em "
            "{trial_ends_on}.",
        ),
        "usage_warning": (
            "Você usou {percent}% dos seus {metric_name} neste período",
            "Sua conta do {product} usou {used} de {limit} {metric_name} neste período de "
            "cobrança.{upgrade_line}",
        ),
        "usage_limit_reached": (
            "Você atingiu seu limite de {metric_name}",
            "Sua conta do {product} usou todos os {limit} {metric_name} deste período de "
            "cobrança. Uma pequena margem extra mantém seus chatbots respondendo; depois "
            "dela, novos {metric_name} ficam bloqueados até o próximo período.{upgrade_line}",
        ),
        "offer": (
            "Uma oferta para você: {headline}",
            "Obrigado por criar com o {product}. Temos uma oferta para você: "
            "{headline}.{expires_line}\n\nAproveite com um clique: "
            "{app_url}/billing/offers/{offer_id}",
        ),
    },
    phrases={
        "salutation": "Olá, {name}!",
        "salutation_anonymous": "Olá!",
        "interval_month": "mensal",
        "interval_year": "anual",
        "amount_line": " Cobramos {amount_display}.",
        "cancel_on": "termina em {effective_on}",
        "cancel_period_end": "termina no fim do período",
        "cancel_ended": "foi encerrada",
        "resume_on": "Ela será retomada em {resumes_on}.",
        "resume_any": "Retome quando quiser.",
        "retry_on": "Tentaremos novamente em {next_retry_on}.",
        "retry_last": "Esta foi nossa última tentativa.",
        "upgrade_line": "\n\nPrecisa de mais espaço? O {upgrade_plan_name} combina com seu "
        "uso de {metric_name}.",
        "metric_fallback": "recursos",
        "expires_line": " Ela vale até {expires_on}.",
        "offer_line": "\n\nVolte agora e ganhe {offer}.",
    },
)

JA = LanguageTexts(
    templates={
        "welcome": (
            "{product}へようこそ。無料トライアルが始まりました",
            "{product}の{trial_days}日間の無料トライアルの準備ができました。カードは不要です。"
            "今日さっそく最初のチャットボットを作りましょう。\n\n"
            "トライアルは{trial_ends_on}に終了します。",
        ),
        "trial_reminder": (
            "{product}のトライアル終了まであと{days_left}日",
            "{product}のトライアルは{trial_ends_on}に終了します（残り{days_left}日）。"
            "チャットボットを止めずに使い続けるには、プランをお選びください。",
        ),
        "trial_expired": (
            "{product}のトライアルが終了しました",
            "無料トライアルは{trial_ends_on}に終了しました。チャットボットとデータは安全に"
            "保管されています。プランを選ぶと再びオンラインになります。",
        ),
        "trial_winback": (
            "チャットボットがお待ちしています",
            "{product}のトライアル終了から{days_since_expiry}日が経ちました。作成したものは"
            "すべて残っています。プランを選んで続きを始めましょう。{offer_line}",
        ),
        "trial_converted": (
            "{product} {plan_name}へようこそ",
            "{plan_name}（{interval_label}払い）にご登録いただきありがとうございます。"
            "本日{amount_display}を請求しました。次回の請求日は{period_end_on}です。",
        ),
        "plan_changed": (
            "{product}のプランが{plan_name}になりました",
            "プランが{previous_plan_name}から{plan_name}（{interval_label}払い）に"
            "変更されました。適用日は{effective_on}です。{amount_line}",
        ),
        "subscription_canceled": (
            "{product}のサブスクリプションを解約しました",
            "{plan_name}のサブスクリプションは{cancel_line}。いつでも戻ってきてください。"
            "チャットボットとデータはそのまま保管しています。",
        ),
        "subscription_reactivated": (
            "{product}のサブスクリプションは継続されます",
            "お知らせです。{plan_name}のサブスクリプションは{period_end_on}に通常どおり"
            "更新されます。",
        ),
        "subscription_paused": (
            "{product}のサブスクリプションを一時停止しました",
            "{plan_name}のサブスクリプションは一時停止中です。停止中は請求されません。"
            "{resume_line}",
        ),
        "subscription_resumed": (
            "{product}のサブスクリプションが再開しました",
            "{plan_name}のサブスクリプションが再び有効になりました。おかえりなさい。",
        ),
        "payment_failed": (
            "{product}のお支払いに失敗しました",
            "{plan_name}のサブスクリプションの料金をカードに請求できませんでした"
            "（{attempt}回目）。{retry_line}その間もチャットボットは動き続けます。\n\n"
            "カードを更新する：{app_url}/billing/payment-method",
        ),
        "payment_recovered": (
            "お支払いを確認しました。ありがとうございます",
            "お支払いが完了し、{plan_name}のサブスクリプションは正常な状態に戻りました。"
            "{amount_line}",
        ),
        "payment_action_required": (
            "{product}のお支払いを確認してください",
            "{plan_name}のサブスクリプションの{amount_display}のお支払いについて、銀行が"
            "確認を求めています。こちらで確認してください：{hosted_invoice_url}\n\n"
            "その間もチャットボットは動き続けます。",
        ),
        "checkout_payment_processing": (
            "{product}のお支払いを処理しています",
            "ありがとうございます。{plan_name}のサブスクリプションのお支払いを受け付けました。"
            "口座振替やボレートの入金確認には数営業日かかります。入金が確認され次第"
            "サブスクリプションが開始し、メールでお知らせします。それまでアカウントに変更はありません。",
        ),
        "checkout_payment_failed": (
            "{product}のお支払いが完了しませんでした",
            "{plan_name}のサブスクリプションのお支払いを完了できなかったため、"
            "サブスクリプションは開始されていません。もう一度プランを選んでお試しください："
            "{app_url}/billing",
        ),
        "trial_extended": (
            "{product}のトライアルが延長されました",
            "お知らせです。無料トライアルを{days}日延長しました。新しい終了日は"
            "{trial_ends_on}です。",
        ),
        "usage_warning": (
            "今期の{metric_name}の{percent}%を使用しました",
            "{product}アカウントは、今回の請求期間に{limit}件中{used}件の{metric_name}を"
            "使用しました。{upgrade_line}",
        ),
        "usage_limit_reached": (
            "{metric_name}の上限に達しました",
            "{product}アカウントは、今回の請求期間の{metric_name}（{limit}件）をすべて"
            "使用しました。少しの猶予枠でチャットボットは応答を続けますが、それを超えると"
            "新しい{metric_name}は次の期間まで停止されます。{upgrade_line}",
        ),
        "offer": (
            "特別オファーのお知らせ：{headline}",
            "{product}をご利用いただきありがとうございます。特別なオファーをご用意しました："
            "{headline}。{expires_line}\n\nワンクリックで受け取る："
            "{app_url}/billing/offers/{offer_id}",
        ),
    },
    phrases={
        "salutation": "{name}様",
        "salutation_anonymous": "こんにちは。",
        "interval_month": "月",
        "interval_year": "年",
        "amount_line": "{amount_display}を請求しました。",
        "cancel_on": "{effective_on}に終了します",
        "cancel_period_end": "期間の終了時に終了します",
        "cancel_ended": "終了しました",
        "resume_on": "{resumes_on}に再開します。",
        "resume_any": "いつでも再開できます。",
        "retry_on": "{next_retry_on}に再度請求を試みます。",
        "retry_last": "今回が最後の試行でした。",
        "upgrade_line": "\n\nもっと余裕が必要ですか？{upgrade_plan_name}なら{metric_name}の"
        "ご利用状況に合っています。",
        "metric_fallback": "ご利用量",
        "expires_line": "{expires_on}まで有効です。",
        "offer_line": "\n\n今戻ると{offer}を受けられます。",
    },
)

TEXTS: dict[str, LanguageTexts] = {
    "en": EN,
    "de": DE,
    "fr": FR,
    "es": ES,
    "pt": PT,
    "ja": JA,
}
