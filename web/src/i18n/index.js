import { createI18n } from 'vue-i18n'
import zh from './zh-CN.js'
import en from './en.js'

const saved = localStorage.getItem('huanxin.locale')
export const i18n = createI18n({
  legacy: false,
  locale: saved === 'en' ? 'en' : 'zh-CN',
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zh, en },
})

export function setLocale(l) {
  i18n.global.locale.value = l
  localStorage.setItem('huanxin.locale', l)
  document.documentElement.lang = l
}
