// The residents' phone pages (Vant), served at /m/: bind a dwelling with the code from the slip,
// follow the estate's progress, read notices and object, vote.
import { createApp } from 'vue'
import { createRouter, createWebHashHistory } from 'vue-router'
import { createI18n } from 'vue-i18n'
import Vant from 'vant'
import 'vant/lib/index.css'
import MobileApp from './MobileApp.vue'
import messages from './messages.js'
import { quietErrors, setUnauthorizedHandler } from '../api/index.js'

const routes = [
  { path: '/', component: () => import('./views/HomeView.vue') },
  { path: '/bind', component: () => import('./views/BindView.vue') },
  { path: '/p/:code', component: () => import('./views/PublicView.vue'), props: true },
  { path: '/surveys', component: () => import('./views/SurveysView.vue') },
  { path: '/surveys/:id', component: () => import('./views/SurveyView.vue'), props: true },
  { path: '/notices', component: () => import('./views/NoticesView.vue') },
  { path: '/requests', component: () => import('./views/RequestsView.vue') },
  { path: '/patrol', component: () => import('./views/PatrolView.vue') },
  { path: '/doorstep', component: () => import('./views/DoorstepView.vue') },
  { path: '/alarms', component: () => import('./views/AlarmsView.vue') },
  { path: '/votes', component: () => import('./views/VotesView.vue') },
  { path: '/votes/:id', component: () => import('./views/VoteView.vue'), props: true },
]
const router = createRouter({ history: createWebHashHistory(), routes })
setUnauthorizedHandler(() => router.replace('/bind'))

const saved = localStorage.getItem('huanxin.locale')
const i18n = createI18n({ legacy: false, locale: saved === 'en' ? 'en' : 'zh-CN', fallbackLocale: 'zh-CN', messages })

quietErrors(createApp(MobileApp)).use(router).use(i18n).use(Vant).mount('#app')
