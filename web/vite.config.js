import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { resolve } from 'node:path'

// Two pages: the desk app (Element Plus) at / and the residents' phone pages (Vant) at /m/.
// In development, the API and tiles come from a running `huanxin serve` on :8080.
export default defineConfig({
  plugins: [vue()],
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080', '/tiles': 'http://127.0.0.1:8080' },
  },
  build: {
    chunkSizeWarningLimit: 2500,
    rollupOptions: { input: { desk: resolve(import.meta.dirname, 'index.html'), phone: resolve(import.meta.dirname, 'm/index.html') } },
  },
})
