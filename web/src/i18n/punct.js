// Punctuation follows the page's language: full-width in Chinese (：（）；), ASCII with a space in English.
// `locale` defaults to the desk's; the phone pages pass their own.
import { i18n } from './index.js'

const zh = (locale) => String(locale ?? i18n.global.locale.value).startsWith('zh')

/** `a：b` in Chinese, `a: b` in English. */
export const colon = (locale) => (zh(locale) ? '：' : ': ')

/** `text（aside）` in Chinese, `text (aside)` in English. */
export const paren = (text, aside, locale) => (zh(locale) ? `${text}（${aside}）` : `${text} (${aside})`)

/** The separator of a list of clauses: `；` or `; `. */
export const clauses = (locale) => (zh(locale) ? '；' : '; ')

/** The separator of a list of names: `、` or `, `. */
export const enumeration = (locale) => (zh(locale) ? '、' : ', ')
