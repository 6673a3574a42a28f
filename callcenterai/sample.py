"""The built-in sample: synthetic helpdesk tickets for the quick start and fast tests.

Tickets are assembled from templates written for this project (not taken from any dataset), for
the eight categories of the reference data, mostly in English with some French and Arabic. They
are raw like real tickets (capitals, digits, punctuation, greetings), and the same seed always
gives the same file. A model trained on them shows that the system works end to end; its scores
say nothing about real tickets, for which the README points to the Kaggle data.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

LABELS = (
    "Hardware",
    "HR Support",
    "Access",
    "Miscellaneous",
    "Storage",
    "Purchase",
    "Internal Project",
    "Administrative rights",
)

# Per category and language: sentences with {slots}; slot values are shared across languages
# where they are product or system names.
_TEMPLATES: dict[str, dict[str, list[str]]] = {
    "Hardware": {
        "en": [
            "My {device} stopped working this morning, the screen stays black.",
            "The {device} in room {room} is broken, can someone replace it?",
            "Docking station does not detect my second monitor since {day}.",
            "Keyboard and mouse of my {device} are not responding after the update.",
            "The printer on floor {floor} keeps jamming and shows error {code}.",
            "Battery of my {device} drains in one hour, please check the hardware.",
            "I need a temporary {device} while mine is being repaired.",
        ],
        "fr": [
            "Mon {device} ne démarre plus depuis {day_fr}, l'écran reste noir.",
            "L'imprimante de l'étage {floor} est en panne, erreur {code}.",
            "Le clavier de mon {device} ne répond plus, pouvez-vous le remplacer ?",
        ],
        "ar": [
            "جهاز {device} الخاص بي لا يعمل منذ الصباح والشاشة سوداء.",
            "الطابعة في الطابق {floor} معطلة وتظهر رسالة خطأ.",
            "لوحة المفاتيح لا تستجيب، أرجو استبدالها.",
        ],
    },
    "HR Support": {
        "en": [
            "Could you update my bank details for the {month} payroll?",
            "I have a question about my annual leave balance and holiday request.",
            "Please send me a copy of my employment contract and payslip for {month}.",
            "How do I register my sick leave from {day} in the HR portal?",
            "My new hire {role} starts on {day}, please prepare the onboarding paperwork.",
            "The overtime hours for {month} are missing from my salary.",
            "I would like to change my pension contribution and benefits.",
        ],
        "fr": [
            "Pouvez-vous m'envoyer ma fiche de paie de {month_fr} ?",
            "Je souhaite poser des congés payés du {day_fr} au vendredi.",
            "Mes heures supplémentaires de {month_fr} ne figurent pas sur mon salaire.",
        ],
        "ar": [
            "أرجو إرسال كشف الراتب لشهر {month_ar}.",
            "أريد الاستفسار عن رصيد إجازتي السنوية.",
            "لم تُحتسب ساعات العمل الإضافية في راتبي هذا الشهر.",
        ],
    },
    "Access": {
        "en": [
            "I cannot log in to {system}, it says my account is locked.",
            "Please grant me access to the {system} shared folder for the {team} team.",
            "My password for {system} expired and the reset link does not work.",
            "New joiner needs a VPN account and access to {system} from {day}.",
            "Two-factor authentication for {system} rejects my code.",
            "Remove access to {system} for the colleague who left the {team} team.",
            "I get 'permission denied' when I open the {team} folder in {system}.",
        ],
        "fr": [
            "Je n'arrive plus à me connecter à {system}, mon compte est bloqué.",
            "Merci de me donner accès au dossier partagé de l'équipe {team}.",
            "Mon mot de passe {system} a expiré et la réinitialisation échoue.",
        ],
        "ar": [
            "لا أستطيع تسجيل الدخول إلى {system} لأن حسابي مقفل.",
            "أرجو منحي صلاحية الوصول إلى المجلد المشترك لفريق {team}.",
            "انتهت صلاحية كلمة المرور ولا يعمل رابط إعادة التعيين.",
        ],
    },
    "Miscellaneous": {
        "en": [
            "Where can I find the meeting room booking tool?",
            "Just a quick question about the {team} newsletter.",
            "Please forward this message to the right team, I am not sure who handles it.",
            "The coffee machine on floor {floor} is out of order.",
            "Can you tell me who is the contact person for {team} this week?",
            "I received a strange message and would like some advice.",
            "Follow-up on my previous request from {day}, any news?",
        ],
        "fr": [
            "Je ne sais pas à qui m'adresser, pouvez-vous transférer ma demande ?",
            "Une petite question sur la réunion de l'équipe {team}.",
            "Suite à ma demande de {day_fr}, avez-vous des nouvelles ?",
        ],
        "ar": [
            "لا أعرف الجهة المسؤولة، أرجو تحويل طلبي إلى الفريق المناسب.",
            "لدي سؤال بسيط حول اجتماع فريق {team}.",
            "هل من جديد بخصوص طلبي السابق؟",
        ],
    },
    "Storage": {
        "en": [
            "My mailbox is full, can you increase the quota to {size} GB?",
            "The shared drive for {team} has no free space left.",
            "Please restore the files I deleted from the {team} folder on {day}.",
            "I need {size} GB more storage on the network drive for backups.",
            "OneDrive sync fails because the disk quota is exceeded.",
            "Archive old project data from the {team} drive to free space.",
            "Backup of my home folder failed last night.",
        ],
        "fr": [
            "Ma boîte mail est pleine, pouvez-vous augmenter le quota à {size} Go ?",
            "Le disque partagé de l'équipe {team} n'a plus d'espace libre.",
            "Merci de restaurer les fichiers supprimés du dossier {team}.",
        ],
        "ar": [
            "صندوق بريدي ممتلئ، أرجو زيادة السعة إلى {size} غيغابايت.",
            "لا توجد مساحة متبقية على القرص المشترك لفريق {team}.",
            "أرجو استعادة الملفات المحذوفة من مجلد الفريق.",
        ],
    },
    "Purchase": {
        "en": [
            "Please order {qty} new {device} for the {team} team.",
            "I need a quote for {qty} licences of {software}.",
            "Can you raise a purchase order for {qty} headsets?",
            "What is the status of purchase order PO-{code} for {software}?",
            "We want to buy {software} for the {team} team, who approves the budget?",
            "Please renew the {software} subscription before it expires in {month}.",
            "Invoice for the {device} order has not been received by the supplier.",
        ],
        "fr": [
            "Merci de commander {qty} {device} pour l'équipe {team}.",
            "Pouvez-vous demander un devis pour {qty} licences {software} ?",
            "Où en est le bon de commande PO-{code} ?",
        ],
        "ar": [
            "أرجو طلب شراء {qty} أجهزة {device} لفريق {team}.",
            "نحتاج عرض سعر لعدد {qty} تراخيص {software}.",
            "ما هي حالة أمر الشراء رقم {code}؟",
        ],
    },
    "Internal Project": {
        "en": [
            "Status update for the {project} project milestone due in {month}.",
            "Please create a new workspace for the {project} project.",
            "The {project} project plan needs review before the steering meeting.",
            "Add two developers to the {project} project board and sprint.",
            "Timesheet code for the {project} project is missing.",
            "We need resources for phase two of the {project} rollout.",
            "The {project} project deadline moved, please update the schedule.",
        ],
        "fr": [
            "Point d'avancement du projet {project} pour le jalon de {month_fr}.",
            "Merci de créer un espace de travail pour le projet {project}.",
            "Le planning du projet {project} doit être revu avant le comité.",
        ],
        "ar": [
            "تحديث حالة مشروع {project} للمرحلة القادمة.",
            "أرجو إنشاء مساحة عمل جديدة لمشروع {project}.",
            "يجب مراجعة خطة مشروع {project} قبل الاجتماع.",
        ],
    },
    "Administrative rights": {
        "en": [
            "I need local admin rights on my {device} to install {software}.",
            "Please grant administrator privileges to install the {software} driver.",
            "Installation of {software} asks for an administrator password.",
            "Temporary elevated rights needed to update {software} on my {device}.",
            "Can I get admin permissions to change the network settings?",
            "The installer for {software} fails without administrative rights.",
            "Request for admin rights on server {code} for maintenance.",
        ],
        "fr": [
            "J'ai besoin des droits administrateur pour installer {software}.",
            "L'installation de {software} demande un mot de passe administrateur.",
            "Merci de m'accorder des droits d'administration temporaires sur mon poste.",
        ],
        "ar": [
            "أحتاج صلاحيات المسؤول على جهازي لتثبيت برنامج {software}.",
            "يطلب تثبيت {software} كلمة مرور المسؤول.",
            "أرجو منحي صلاحيات إدارية مؤقتة لتحديث البرنامج.",
        ],
    },
}

_SLOTS: dict[str, list[str]] = {
    "device": ["laptop", "monitor", "desktop", "docking station", "phone", "tablet", "headset"],
    "room": ["A12", "B4", "C201", "D17"],
    "floor": ["1", "2", "3", "4", "5"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "day_fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi"],
    "month": ["January", "March", "May", "July", "September", "November"],
    "month_fr": ["janvier", "mars", "mai", "juillet", "septembre", "novembre"],
    "month_ar": ["يناير", "مارس", "مايو", "يوليو", "سبتمبر"],
    "code": ["404", "E-1203", "0x80070005", "5521", "77"],
    "role": ["analyst", "engineer", "consultant", "assistant"],
    "system": ["SAP", "Salesforce", "Jira", "SharePoint", "the VPN", "Outlook", "Confluence"],
    "team": ["finance", "marketing", "support", "engineering", "sales", "legal"],
    "size": ["10", "50", "100", "200"],
    "qty": ["2", "3", "5", "10", "25"],
    "software": ["Visual Studio", "Adobe Acrobat", "Tableau", "Python", "AutoCAD", "Zoom"],
    "project": ["Phoenix", "Atlas", "Orion", "Mercury", "Nova"],
}

_OPENERS = {
    "en": ["Hi,", "Hello team,", "Dear support,", "Good morning,", ""],
    "fr": ["Bonjour,", "Bonjour l'équipe,", "Madame, Monsieur,", ""],
    "ar": ["مرحبا،", "السلام عليكم،", "تحية طيبة،", ""],
}
_CLOSERS = {
    "en": ["Thanks.", "Kind regards.", "Thank you in advance!", "Best regards", ""],
    "fr": ["Merci.", "Cordialement.", "Merci d'avance !", ""],
    "ar": ["شكرا.", "مع التحية.", "شكرا مقدما.", ""],
}
_LANGUAGE_SHARES = (("en", 0.8), ("fr", 0.1), ("ar", 0.1))


def _fill(template: str, rng: random.Random) -> str:
    values = {name: rng.choice(options) for name, options in _SLOTS.items()}
    return template.format(**values)


def generate_tickets(n: int = 2000, seed: int = 13) -> pd.DataFrame:
    """Return ``n`` synthetic tickets, balanced over :data:`LABELS`, columns as the Kaggle CSV.

    Columns: ``Document`` (text), ``Topic_group`` (label) and ``language`` (en, fr or ar).
    A ticket is one or two sentences of its category, sometimes with a sentence of another
    category added (real tickets mix topics), between an optional greeting and sign-off.
    """
    rng = random.Random(seed)  # nosec B311
    languages, weights = zip(*_LANGUAGE_SHARES)
    rows = []
    for index in range(n):
        label = LABELS[index % len(LABELS)]
        language = rng.choices(languages, weights)[0]
        templates = _TEMPLATES[label][language]
        sentences = [_fill(t, rng) for t in rng.sample(templates, k=rng.choice((1, 1, 2)))]
        if rng.random() < 0.15:
            other = rng.choice([x for x in LABELS if x != label])
            sentences.append(_fill(rng.choice(_TEMPLATES[other][language]), rng))
        parts = [rng.choice(_OPENERS[language]), *sentences, rng.choice(_CLOSERS[language])]
        rows.append(
            {
                "Document": " ".join(p for p in parts if p),
                "Topic_group": label,
                "language": language,
            }
        )
    return pd.DataFrame(rows).sample(frac=1, random_state=seed).reset_index(drop=True)


def write_sample(path: Path, n: int = 2000, seed: int = 13) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_tickets(n, seed).to_csv(path, index=False)
    return path
