# ---- i18n: extract, update and compile the message catalogs ---------------------------------
# Source strings are English; zh_Hans_CN (Flask-Babel's name for zh_CN) is the default UI
# language. Compiled .mo files are committed, so run `make i18n` after changing any _() string.
PYBABEL ?= .venv/bin/pybabel
I18N_DIR := translations
I18N_POT := $(I18N_DIR)/messages.pot
I18N_LOCALES := zh_Hans_CN en

.PHONY: i18n i18n-extract i18n-update i18n-compile

i18n: i18n-extract i18n-update i18n-compile

i18n-extract:
	$(PYBABEL) extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project=Jifen --copyright-holder=Jifen -o $(I18N_POT) .

i18n-update:
	for l in $(I18N_LOCALES); do \
		$(PYBABEL) update -i $(I18N_POT) -d $(I18N_DIR) -l $$l --no-fuzzy-matching --ignore-pot-creation-date || exit 1; \
	done

i18n-compile:
	$(PYBABEL) compile -d $(I18N_DIR) --statistics
# ---- end i18n ------------------------------------------------------------------------------
