import { createApp } from 'vue'
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import 'maplibre-gl/dist/maplibre-gl.css'
import App from './App.vue'
import { router } from './router.js'
import { i18n } from './i18n/index.js'
import { quietErrors } from './api/index.js'

quietErrors(createApp(App)).use(router).use(i18n).use(ElementPlus).mount('#app')
