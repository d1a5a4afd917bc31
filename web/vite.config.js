import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { resolve } from 'node:path'

// Vant's icon font is embedded (woff2) with a fallback on Alibaba's CDN, which the server's CSP
// (font-src 'self' data:) blocks and which an intranet cannot reach: the fallback is dropped.
const noFontCdn = {
  name: 'no-font-cdn',
  enforce: 'pre',
  transform(code, id) {
    if (!id.includes('vant') || !id.endsWith('.css')) return null
    return code.replace(/,\s*url\(\/\/at\.alicdn\.com\/[^)]*\)\s*format\("woff"\)/g, '')
  },
}

// Two pages: the desk app (Element Plus) at / and the residents' phone pages (Vant) at /m/.
// In development, the API and tiles come from a running `huanxin serve` on :8080.
export default defineConfig({
  plugins: [vue(), noFontCdn],
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080', '/tiles': 'http://127.0.0.1:8080' },
  },
  build: {
    chunkSizeWarningLimit: 2500,
    rollupOptions: { input: { desk: resolve(import.meta.dirname, 'index.html'), phone: resolve(import.meta.dirname, 'm/index.html') } },
  },
})
